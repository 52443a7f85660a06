"""Every business key's grammar in one place: what makes one intent one row, however often it is asked.

Charge keys (``billing.payments.charge_key``, unique: one payment per intent):

* ``<service>:initial:<subscription>``          the first payment of a subscription, asked over HTTP by
  a service (Billing prefixes the caller's Idempotency-Key with the caller's name: :func:`of_caller`);
* ``renewal:<subscription>:<period>:<attempt>``  one renewal attempt, commanded over the stream.

Refund keys (``billing.refunds.refund_key``, unique: one refund per request):

* ``<caller>:<Idempotency-Key>``                 a refund asked over HTTP (:func:`of_caller`): the
  Idempotency-Key is ``refund-<uuid5>`` for a user's or operator's request (:func:`requested_refund`) or
  ``late:<payment>`` for a payment that arrived after its subscription ended;
* ``system:duplicate:<payment>``                 Billing returning a payment taken twice for one period.

The formats are stored in rows and sent to YooKassa's journal; they never change shape.
"""

from __future__ import annotations

import uuid

RENEWAL_PREFIX = "renewal:"
REQUESTED_REFUNDS = uuid.UUID("5b0f8a0e-3c1e-4b7a-9a53-6d2f1c0e7a11")  # namespace of derived refund keys
DUPLICATE_REFUND_PREFIX = "system:duplicate:"


def of_caller(caller: str, key: str) -> str:
    """A key a service sent (its Idempotency-Key), in the caller's own namespace."""
    return f"{caller}:{key}"


def initial_charge(subscription_id: uuid.UUID | str) -> str:
    """The Idempotency-Key of a subscription's first payment (one payment and one link, however often
    the buyer asks)."""
    return f"initial:{subscription_id}"


def renewal_charge(subscription_id: uuid.UUID | str, period_index: int, attempt: int) -> str:
    """The charge key of one renewal attempt of a period."""
    return f"{RENEWAL_PREFIX}{subscription_id}:{period_index}:{attempt}"


def is_renewal_charge(key: str) -> bool:
    return key.startswith(RENEWAL_PREFIX)


def requested_refund(scope: str, subscription_id: uuid.UUID | str, key: str) -> str:
    """The Idempotency-Key Subscriptions sends Billing for a refund a caller asked for (its scope and
    Idempotency-Key): at most 64 characters, deterministic, so one request is always one Billing refund."""
    return f"refund-{uuid.uuid5(REQUESTED_REFUNDS, f'{scope}|{subscription_id}|{key}').hex}"


def late_payment_refund(payment_id: uuid.UUID | str) -> str:
    """The Idempotency-Key of returning a payment that arrived after its subscription ended."""
    return f"late:{payment_id}"


def duplicate_refund(payment_id: uuid.UUID | str) -> str:
    """The refund key of returning, in full, a payment taken twice for one period."""
    return f"{DUPLICATE_REFUND_PREFIX}{payment_id}"


def is_duplicate_refund(refund_key: str) -> bool:
    return refund_key.startswith(DUPLICATE_REFUND_PREFIX)
