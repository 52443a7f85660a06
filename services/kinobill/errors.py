"""Application errors: a request the service layer refuses, whatever transport brought it.

Beside :class:`~kinobill.domain.errors.DomainError` (a broken business rule), the service layer raises
these for what is not a rule of the domain: something that does not exist, a conflict with the current
state or with an earlier request, input it cannot use, a dependency that did not answer. Each carries a
stable snake_case ``code``, a human ``message`` and optional ``details``; the *kind* (the class) says
what sort of refusal it is. Services never speak HTTP: the one table that turns a kind into a status is
``kinobill.web.ERROR_STATUS``; a stream consumer catches the kinds (or the specific classes below) it
knows how to handle.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ApplicationError(Exception):
    """A refused request: ``code`` is stable, ``message`` is for people, ``details`` is optional data."""

    code: ClassVar[str] = "application_error"
    default_message: ClassVar[str] = "The request was refused."

    def __init__(self, code: str | None = None, message: str | None = None, details: Any = None) -> None:
        self.code = code or type(self).code  # type: ignore[misc]
        self.message = message if message is not None else self.default_message
        self.details = details
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class NotFound(ApplicationError):
    code = "not_found"
    default_message = "No such thing."


class Conflict(ApplicationError):
    """The request conflicts with the current state (or with another request under way)."""

    code = "conflict"
    default_message = "The request conflicts with the current state."


class InvalidRequest(ApplicationError):
    """The request cannot be used as it is (missing or inconsistent fields, a key reused for another)."""

    code = "invalid_request"
    default_message = "The request is not valid."


class Unauthenticated(ApplicationError):
    code = "unauthorized"
    default_message = "The caller could not be identified."


class Forbidden(ApplicationError):
    code = "forbidden"
    default_message = "The caller may not do this."


class Unavailable(ApplicationError):
    """A dependency did not answer or could not complete the request now: retry later, with the same
    Idempotency-Key where there is one."""

    code = "unavailable"
    default_message = "A dependency is unavailable; retry later."


class ProviderUnavailable(Unavailable):
    """YooKassa's answer is unknown; the payment row is kept and the reconciler repeats the call with
    the same Idempotence-Key."""

    code = "provider_unavailable"
    default_message = "the payment provider did not answer; retry with the same Idempotency-Key"


class BillingUnavailable(Unavailable):
    code = "billing_unavailable"
    default_message = "billing did not answer; retry with the same Idempotency-Key"


class ChargeKeyReused(InvalidRequest):
    """A charge key already names a payment with another subscription, amount or period."""

    code = "charge_key_reused"
    default_message = "this charge key belongs to another payment"


__all__ = [
    "ApplicationError",
    "BillingUnavailable",
    "ChargeKeyReused",
    "Conflict",
    "Forbidden",
    "InvalidRequest",
    "NotFound",
    "ProviderUnavailable",
    "Unauthenticated",
    "Unavailable",
]
