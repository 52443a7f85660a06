"""Schemathesis hooks for the conformance run (`test_schemathesis.py` loads them with SCHEMATHESIS_HOOKS).

Each request carries the token its operation asks for: the first service identity of the operation's
`x-callers` (kinobill.openapi), or a user's token for the public API. The tokens come from
SCHEMATHESIS_KINOBILL_TOKENS, a JSON object `{"user": ..., "admin": ..., ...}`.

A valid generated Idempotency-Key is replaced by a fresh one: a client sends a new key for each new request,
and a key reused with another body is refused (422 `idempotency_key_reused`) by design. Invalid keys are kept,
so the negative cases still test the header.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from typing import Any

import schemathesis

TOKENS: dict[str, str] = json.loads(os.environ.get("SCHEMATHESIS_KINOBILL_TOKENS", "{}"))
VALID_KEY = re.compile(r"[ -~]{1,64}")


def identity(operation: schemathesis.APIOperation) -> str:
    callers = operation.definition.raw.get("x-callers") or ["user"]
    return str(callers[0])


@schemathesis.auth(refresh_interval=None)
class KinobillTokens:
    def get(self, case: schemathesis.Case, ctx: schemathesis.AuthContext) -> str:
        return TOKENS[identity(ctx.operation)]

    def set(self, case: schemathesis.Case, data: str, ctx: schemathesis.AuthContext) -> None:
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and VALID_KEY.fullmatch(key):
        case.headers["Idempotency-Key"] = uuid.uuid4().hex


# Rules a JSON Schema cannot state, per operation: the error codes (or validation error types) a
# schema-valid request may still get with a 422.
RULES_BEYOND_THE_SCHEMA: dict[str, set[str]] = {
    # a cursor is one the API issued (opaque: any string is schema-valid)
    "GET /api/v1/plans": {"invalid_cursor"},
    "GET /api/v1/subscriptions": {"invalid_cursor"},
    "GET /internal/v1/plans": {"invalid_cursor"},
    "GET /api/v1/payments": {"invalid_cursor"},
    # sale_end after sale_start (also against the stored plan's window)
    "POST /internal/v1/plans": {"invalid_sale_window"},
    "PATCH /internal/v1/plans/{plan_id}": {"invalid_sale_window"},
    # a receipt needs an e-mail (the request's, or the one Billing knows for the user); a renewal needs
    # the saved method it charges
    "POST /internal/v1/payments": {"receipt_email_required", "payment_method_required"},
    # a partial refund needs its period, period_end after period_start; a full one is the system's, with
    # the payment named
    "POST /internal/v1/refunds": {"period_required", "period_order", "full_refund_not_allowed"},
}


@schemathesis.check
def refused_only_by_rules_beyond_the_schema(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """A schema-valid request answered 422 names one of the operation's rules beyond the schema."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        raise AssertionError(f"a 422 without the error shape: {response.text[:200]}") from None
    named = {error.get("code")} | {d.get("type") for d in error.get("details") or () if isinstance(d, dict)}
    allowed = RULES_BEYOND_THE_SCHEMA.get(case.operation.label, set())
    if not named & allowed:
        raise AssertionError(
            f"schema-valid data refused: {error.get('code')}: {error.get('message')} "
            f"(rules beyond the schema here: {sorted(allowed) or 'none'})"
        )
    return None
