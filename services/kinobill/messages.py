"""What travels between the services, typed: one class per message, used by its producer, its consumers
and the internal HTTP endpoints that carry the same thing.

* :class:`PaymentSettled`          Billing → Subscriptions (``PAYMENT_RESULTS``; ``POST
  /internal/v1/payment-results``; ``GET /internal/v1/payment-results`` for the backstop);
* :class:`RefundSettled`           Billing → Subscriptions (``REFUND_RESULTS``);
* :class:`RenewalChargeRequested`  Subscriptions → Billing (``CHARGE_COMMANDS``);
* :class:`SubscriptionChanged`     Subscriptions → anyone caching access (``SUBSCRIPTION_CHANGES``).

Money is integer kopecks everywhere inside the system (RUB strings only at YooKassa's API and in the
public API's answers). A message is written with :meth:`Message.to_json` and read with
:meth:`Message.from_json`, which raises ``ValueError`` (pydantic's ``ValidationError``) on a malformed
one, so a stream consumer dead-letters it. Fields a reader does not know are ignored (a newer producer
may add some); a field is never renamed or retyped in place.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, field_validator

from kinobill import keys

# Strict: a RUB string such as "299.00" must never be read as 299 kopecks.
Kopecks = Annotated[StrictInt, Field(gt=0)]
PeriodIndex = Annotated[int, Field(ge=0)]


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls.model_validate(data)


class PaymentSettled(Message):
    """A payment reached its final state (``payment.succeeded`` or ``payment.canceled``)."""

    type: Literal["payment.succeeded", "payment.canceled"]
    payment_id: uuid.UUID
    subscription_id: uuid.UUID
    user_id: uuid.UUID
    user_email: str | None = None
    period_index: PeriodIndex
    kind: Literal["initial", "renewal"]
    attempt: Annotated[int, Field(ge=0)] = 0
    amount: Kopecks
    paid_at: AwareDatetime | None = None
    payment_method_id: str | None = None  # the saved method (renewals charge it)
    reason: str | None = None  # YooKassa's cancellation reason

    @property
    def succeeded(self) -> bool:
        return self.type == "payment.succeeded"


class RefundSettled(Message):
    """A refund reached its final state (``refund.succeeded`` or ``refund.canceled``)."""

    type: Literal["refund.succeeded", "refund.canceled"]
    refund_id: uuid.UUID
    payment_id: uuid.UUID
    subscription_id: uuid.UUID
    user_id: uuid.UUID
    user_email: str | None = None
    period_index: PeriodIndex
    amount: Kopecks
    payment_refunded_amount: Annotated[StrictInt, Field(ge=0)] = 0
    # Other refunds of the same payment still pending or succeeded.
    other_open_refunds: Annotated[int, Field(ge=0)] = 0
    reason: str | None = None
    # False when Billing returned a payment taken twice for one period: the paid subscription stays.
    ends_subscription: bool = True

    @property
    def succeeded(self) -> bool:
        return self.type == "refund.succeeded"


class RenewalChargeRequested(Message):
    """Charge the saved method for one renewal attempt (the key makes a repeat land on the same payment)."""

    type: Literal["charge.renewal"] = "charge.renewal"
    charge_key: str
    subscription_id: uuid.UUID
    user_id: uuid.UUID
    user_email: str | None = None
    locale: str | None = None
    zoneinfo: str | None = None
    period_index: PeriodIndex
    attempt: Annotated[int, Field(ge=0)] = 0
    amount: Kopecks
    payment_method_id: str
    description: str = "Kinobill renewal"

    @field_validator("charge_key")
    @classmethod
    def _renewal_key(cls, value: str) -> str:
        if not keys.is_renewal_charge(value):
            raise ValueError(f"not a renewal charge key: {value!r}")
        return value


class SubscriptionChanged(Message):
    """A user's subscription changed (activated, renewed, cancelled, ended, ...): drop cached access."""

    user_id: uuid.UUID
    subscription_id: uuid.UUID
    event: str
    at: AwareDatetime
