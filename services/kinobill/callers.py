"""Service identities and who may call which internal endpoint.

A service token's `sub` is `service:<name>`; the name is the caller's identity. Every internal endpoint
declares the callers it accepts with one of the dependencies below; any other valid service token gets
403 `caller_not_allowed`, an invalid or missing one 401. The table (also in docs/security.md):

| caller          | may call                                                                    |
|-----------------|-----------------------------------------------------------------------------|
| `admin`         | Subscriptions: plans (CRUD, end-sale), cancel, refund; Billing: reconcile,  |
|                 | resolve operator tasks                                                      |
| `subscriptions` | Billing: create payments, refunds, card changes; read payments, results, refunds |
| `billing`       | Subscriptions: payment results (re-read from Billing before they are applied) |
| `auth`          | Subscriptions: `GET /internal/v1/users/{id}/subscriptions/active`           |

Tokens are minted per identity: `kinobill token --service admin|subscriptions|billing|auth`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from kinobill.runtime import get_runtime
from kinobill.security import AuthenticationError, Caller, ServicePrincipal, service_from_claims
from kinobill.web import ApiError, bearer_token

log = logging.getLogger(__name__)


def authenticated_service(request: Request) -> ServicePrincipal:
    """The verified service identity of the request; 401 when there is none."""
    try:
        return service_from_claims(get_runtime().service_tokens.decode(bearer_token(request)))
    except AuthenticationError as exc:
        log.info("service token refused: %s", exc)  # the reason stays in the log, not in the answer
        raise ApiError(401, "unauthorized", "the service token is invalid or expired") from exc


def authorize(principal: ServicePrincipal, accepted: frozenset[Caller]) -> ServicePrincipal:
    """403 `caller_not_allowed` unless the principal is one of the accepted callers."""
    if principal.name not in accepted:
        raise ApiError(
            403,
            "caller_not_allowed",
            f"service {principal.name!r} may not call this endpoint",
            {"caller": principal.name, "accepted": sorted(accepted)},
        )
    return principal


def accepting(*callers: Caller) -> Callable[[Request], ServicePrincipal]:
    """A FastAPI dependency: the calling service, when it is one of `callers`."""
    accepted = frozenset(callers)

    def caller(request: Request) -> ServicePrincipal:
        return authorize(authenticated_service(request), accepted)

    caller.accepted_callers = accepted  # type: ignore[attr-defined]  # read by the route audit test
    return caller


__all__ = ["AdminCaller", "AuthCaller", "BillingCaller", "Caller", "SubscriptionsCaller", "accepting"]

AdminCaller = Annotated[ServicePrincipal, Depends(accepting(Caller.ADMIN))]
SubscriptionsCaller = Annotated[ServicePrincipal, Depends(accepting(Caller.SUBSCRIPTIONS))]
BillingCaller = Annotated[ServicePrincipal, Depends(accepting(Caller.BILLING))]
AuthCaller = Annotated[ServicePrincipal, Depends(accepting(Caller.AUTH))]
