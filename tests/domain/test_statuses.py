"""Statuses: every pair of states against the transition tables, and the YooKassa status mapping."""

from __future__ import annotations

import itertools
from enum import StrEnum

import pytest

from kinobill.domain.errors import InvalidTransition
from kinobill.domain.statuses import (
    PAYMENT_TRANSITIONS,
    REFUND_TRANSITIONS,
    SUBSCRIPTION_TRANSITIONS,
    EndedReason,
    PaymentKind,
    PaymentStatus,
    RefundStatus,
    SubscriptionStatus,
    can_transition,
    check_transition,
    is_final,
    payment_status_from_provider,
)

Sub = SubscriptionStatus
Pay = PaymentStatus
Ref = RefundStatus

ALLOWED = {
    ("subscription", Sub.AWAITING_PAYMENT, Sub.ACTIVE),
    ("subscription", Sub.AWAITING_PAYMENT, Sub.ENDED),
    ("subscription", Sub.ACTIVE, Sub.ACTIVE),
    ("subscription", Sub.ACTIVE, Sub.ENDED),
    ("payment", Pay.PENDING, Pay.SUCCEEDED),
    ("payment", Pay.PENDING, Pay.CANCELED),
    ("refund", Ref.PENDING, Ref.SUCCEEDED),
    ("refund", Ref.PENDING, Ref.CANCELED),
}
TABLES: dict[str, tuple[dict, type[StrEnum]]] = {
    "subscription": (SUBSCRIPTION_TRANSITIONS, SubscriptionStatus),
    "payment": (PAYMENT_TRANSITIONS, PaymentStatus),
    "refund": (REFUND_TRANSITIONS, RefundStatus),
}
ALL_PAIRS = [
    pytest.param(name, current, new, (name, current, new) in ALLOWED, id=f"{name}-{current}-to-{new}")
    for name, (_, enum) in TABLES.items()
    for current, new in itertools.product(enum, enum)
]


@pytest.mark.parametrize(("table_name", "current", "new", "allowed"), ALL_PAIRS)
def test_transition_table(table_name: str, current: StrEnum, new: StrEnum, allowed: bool) -> None:
    table = TABLES[table_name][0]
    assert can_transition(table, current, new) is allowed
    if allowed:
        check_transition(table, current, new)
    else:
        with pytest.raises(InvalidTransition) as caught:
            check_transition(table, current, new)
        assert caught.value.code == "invalid_transition"
        assert str(current) in caught.value.message and str(new) in caught.value.message


@pytest.mark.parametrize(("table_name"), list(TABLES))
def test_every_status_has_a_row(table_name: str) -> None:
    table, enum = TABLES[table_name]
    assert set(table) == set(enum)


@pytest.mark.parametrize(
    ("table", "status", "final"),
    [
        pytest.param(SUBSCRIPTION_TRANSITIONS, Sub.ENDED, True, id="subscription-ended"),
        pytest.param(SUBSCRIPTION_TRANSITIONS, Sub.ACTIVE, False, id="subscription-active"),
        pytest.param(PAYMENT_TRANSITIONS, Pay.SUCCEEDED, True, id="payment-succeeded"),
        pytest.param(PAYMENT_TRANSITIONS, Pay.CANCELED, True, id="payment-canceled"),
        pytest.param(PAYMENT_TRANSITIONS, Pay.PENDING, False, id="payment-pending"),
        pytest.param(REFUND_TRANSITIONS, Ref.SUCCEEDED, True, id="refund-succeeded"),
    ],
)
def test_is_final(table: dict, status: StrEnum, final: bool) -> None:
    assert is_final(table, status) is final


@pytest.mark.parametrize(
    ("provider", "ours"),
    [
        pytest.param("pending", Pay.PENDING, id="pending"),
        pytest.param("waiting_for_capture", Pay.PENDING, id="waiting-for-capture-is-pending"),
        pytest.param("succeeded", Pay.SUCCEEDED, id="succeeded"),
        pytest.param("canceled", Pay.CANCELED, id="canceled"),
    ],
)
def test_payment_status_from_provider(provider: str, ours: PaymentStatus) -> None:
    assert payment_status_from_provider(provider) is ours


@pytest.mark.parametrize(
    "provider",
    [
        pytest.param("cancelled", id="british-spelling"),
        pytest.param("SUCCEEDED", id="uppercase"),
        pytest.param("", id="empty"),
        pytest.param("refunded", id="unknown"),
        pytest.param(None, id="none"),
    ],
)
def test_unknown_provider_status(provider: object) -> None:
    with pytest.raises(ValueError):
        payment_status_from_provider(provider)


@pytest.mark.parametrize(
    ("enum", "values"),
    [
        pytest.param(SubscriptionStatus, ["awaiting_payment", "active", "ended"], id="subscription"),
        pytest.param(EndedReason, ["cancelled", "refunded", "payment_failed", "expired"], id="ended-reason"),
        pytest.param(PaymentStatus, ["pending", "succeeded", "canceled"], id="payment"),
        pytest.param(RefundStatus, ["pending", "succeeded", "canceled"], id="refund"),
        pytest.param(PaymentKind, ["initial", "renewal"], id="payment-kind"),
    ],
)
def test_wire_values(enum: type[StrEnum], values: list[str]) -> None:
    """These strings are API and database values: changing one is a migration."""
    assert [member.value for member in enum] == values
