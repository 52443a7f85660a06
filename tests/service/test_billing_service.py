"""Billing's service layer in-process: PaymentService and RefundService on a real Postgres, with the
YooKassa gateway and the clock faked at their ports."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from kinobill import keys
from kinobill.billing import tables as t
from kinobill.billing.payments import NewPayment, PaymentService
from kinobill.billing.refunds import RefundRequest, RefundService
from kinobill.billing.repository import BillingUnitOfWork
from kinobill.billing.results import PaymentView
from kinobill.domain.errors import NothingToRefund
from kinobill.domain.statuses import PaymentKind
from kinobill.errors import ChargeKeyReused, Forbidden, ProviderUnavailable
from kinobill.events import PAYMENT_RESULTS, REFUND_RESULTS
from kinobill.messages import PaymentSettled, RefundSettled


@pytest.fixture()
def payments(service_engine: sa.Engine, gateway: Any, now: Any) -> PaymentService:
    return PaymentService(lambda: BillingUnitOfWork(service_engine), gateway, now)


@pytest.fixture()
def refunds(service_engine: sa.Engine, gateway: Any, now: Any) -> RefundService:
    return RefundService(
        lambda: BillingUnitOfWork(service_engine), gateway, now, public_url="https://billing.test"
    )


def first_payment(**overrides: Any) -> NewPayment:
    subscription = overrides.pop("subscription_id", uuid.uuid4())
    fields: dict[str, Any] = {
        "subscription_id": subscription,
        "user_id": uuid.uuid4(),
        "user_email": "buyer@example.com",
        "period_index": 0,
        "kind": PaymentKind.INITIAL,
        "charge_key": keys.of_caller("subscriptions", keys.initial_charge(subscription)),
        "amount": 29_900,
        "description": "Kinobill Cinema, 1 month",
        "return_url": "https://kb.test/return",
    }
    return NewPayment(**{**fields, **overrides})


def results(engine: sa.Engine, stream: str, subscription_id: uuid.UUID) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.outbox.c.payload).where(t.outbox.c.stream == stream).order_by(t.outbox.c.id)
        )
        return [p for (p,) in rows if p["subscription_id"] == str(subscription_id)]


def test_one_intent_is_one_payment_and_one_provider_call(payments, gateway):
    request = first_payment()
    created = payments.create(request)
    again = payments.create(request)
    assert again.id == created.id and created.status == "pending"
    assert created.confirmation_url is not None and created.confirmation_url.startswith(
        "https://yookassa.test/"
    )
    assert gateway.create_calls == [str(created.id)]  # the row id is YooKassa's Idempotence-Key


def test_the_same_charge_key_for_another_amount_is_refused(payments):
    request = first_payment()
    payments.create(request)
    with pytest.raises(ChargeKeyReused):
        payments.create(first_payment(subscription_id=request.subscription_id, amount=34_900))


def test_an_unknown_outcome_keeps_the_row_and_the_reconciler_repeats_the_same_key(payments, gateway, now):
    gateway.unknown = 1
    request = first_payment()
    with pytest.raises(ProviderUnavailable):
        payments.create(request)
    (row,) = payments.list_for_subscription(request.subscription_id)
    assert row.status == "pending" and row.provider_payment_id is None
    payments.reconcile_payment(row.id)
    assert gateway.create_calls == [str(row.id), str(row.id)]
    assert payments.get(row.id).provider_payment_id is not None


def test_settling_records_once_and_announces_the_result_in_kopecks(payments, gateway, service_engine, now):
    request = first_payment()
    created = payments.create(request)
    paid = gateway.complete(created.provider_payment_id)
    settled = payments.apply_provider_object(created.id, paid)
    payments.apply_provider_object(created.id, paid)  # a duplicated notification
    assert settled.status == "succeeded" and settled.saved_payment_method_id == paid["payment_method"]["id"]
    (event,) = [
        PaymentSettled.from_json(p) for p in results(service_engine, PAYMENT_RESULTS, request.subscription_id)
    ]
    assert event.succeeded and event.amount == 29_900 and event.paid_at == now()
    assert event.payment_method_id == paid["payment_method"]["id"]


def test_a_saved_card_charge_settles_in_the_create_call(payments, gateway, service_engine):
    first = first_payment()
    created = payments.create(first)
    saved = payments.apply_provider_object(created.id, gateway.complete(created.provider_payment_id))
    subscription = first.subscription_id
    renewal = first_payment(
        subscription_id=subscription,
        user_id=first.user_id,  # a saved card is charged only for the user who saved it
        period_index=1,
        kind=PaymentKind.RENEWAL,
        charge_key=keys.renewal_charge(subscription, 1, 0),
        payment_method_id=saved.saved_payment_method_id,
        return_url=None,
    )
    assert payments.create(renewal).status == "succeeded"
    events = [PaymentSettled.from_json(p) for p in results(service_engine, PAYMENT_RESULTS, subscription)]
    assert [(e.kind, e.period_index, e.amount) for e in events] == [
        ("initial", 0, 29_900),
        ("renewal", 1, 29_900),
    ]


def test_a_batch_of_renewal_charges_writes_the_rows_one_request_writes(payments, gateway, service_engine):
    first = first_payment(locale="en", zoneinfo="Asia/Vladivostok")
    created = payments.create(first)
    saved = payments.apply_provider_object(created.id, gateway.complete(created.provider_payment_id))
    renewal = first_payment(
        subscription_id=first.subscription_id,
        user_id=first.user_id,
        period_index=1,
        kind=PaymentKind.RENEWAL,
        charge_key=keys.renewal_charge(first.subscription_id, 1, 0),
        payment_method_id=saved.saved_payment_method_id,
        return_url=None,
        locale="en",
        zoneinfo="Asia/Vladivostok",
    )
    with ThreadPoolExecutor(2) as pool:
        (charged, reused) = payments.create_many([renewal, replace(renewal, amount=34_900)], pool)
    assert isinstance(charged, PaymentView) and charged.status == "succeeded"
    assert isinstance(reused, ChargeKeyReused)  # one charge key is one intent, in a batch too
    with service_engine.connect() as conn:
        row = conn.execute(sa.select(t.payments).where(t.payments.c.id == charged.id)).one()
    assert (row.locale, row.zoneinfo) == ("en", "Asia/Vladivostok")  # the user's e-mails, in their language


def test_a_saved_card_is_charged_only_for_the_user_who_saved_it(payments, gateway):
    first = first_payment()
    created = payments.create(first)
    saved = payments.apply_provider_object(created.id, gateway.complete(created.provider_payment_id))
    other = uuid.uuid4()
    with pytest.raises(Forbidden):
        payments.create(
            first_payment(
                subscription_id=first.subscription_id,
                period_index=1,
                kind=PaymentKind.RENEWAL,
                charge_key=keys.renewal_charge(first.subscription_id, 1, 0),
                payment_method_id=saved.saved_payment_method_id,
                user_id=other,
            )
        )


def test_a_batch_of_charges_refuses_a_card_saved_by_another_user_and_charges_the_rest(
    payments, gateway, service_engine
):
    """The renewal consumer's batch path (`create_many`) keeps the rule of `create`."""
    first = first_payment()
    created = payments.create(first)
    method = payments.apply_provider_object(
        created.id, gateway.complete(created.provider_payment_id)
    ).saved_payment_method_id

    def renewal(user_id: uuid.UUID, subscription_id: uuid.UUID) -> NewPayment:
        return first_payment(
            subscription_id=subscription_id,
            user_id=user_id,
            period_index=1,
            kind=PaymentKind.RENEWAL,
            charge_key=keys.renewal_charge(subscription_id, 1, 0),
            payment_method_id=method,
            return_url=None,
        )

    forged = renewal(uuid.uuid4(), uuid.uuid4())
    owners = renewal(first.user_id, first.subscription_id)
    calls_before = len(gateway.create_calls)
    refused, charged = payments.create_many([forged, owners], ThreadPoolExecutor(max_workers=1))
    assert isinstance(refused, Forbidden) and refused.code == "payment_method_not_owned"
    assert isinstance(charged, PaymentView) and charged.status == "succeeded"
    assert len(gateway.create_calls) == calls_before + 1
    with service_engine.connect() as conn:
        assert conn.execute(sa.select(t.payments).where(t.payments.c.user_id == forged.user_id)).all() == []


def test_a_refund_follows_the_rule_and_never_exceeds_what_was_paid(
    payments, refunds, gateway, service_engine, now
):
    request = first_payment()
    created = payments.create(request)
    payments.apply_provider_object(created.id, gateway.complete(created.provider_payment_id))
    start = now()
    now.advance(timedelta(days=10))  # past the full-refund week: pro rata
    ask = RefundRequest(
        subscription_id=request.subscription_id,
        user_id=request.user_id,
        refund_key=keys.of_caller("subscriptions", "r1"),
        period_index=0,
        period_start=start,
        period_end=start + timedelta(days=28),
        requested_by="user",
    )
    refund = refunds.create(ask)
    assert refund.status == "succeeded"
    assert refund.amount == 19_221  # 299.00 × 18/28, rounded down to the kopeck
    (event,) = [
        RefundSettled.from_json(p) for p in results(service_engine, REFUND_RESULTS, request.subscription_id)
    ]
    assert event.amount == 19_221 and event.ends_subscription
    with pytest.raises(NothingToRefund):
        refunds.create(RefundRequest(**{**ask.__dict__, "refund_key": keys.of_caller("subscriptions", "r2")}))
