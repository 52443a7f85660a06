"""A renewal charge command on the Redis stream is held to the rule of the HTTP path: a saved card is
charged only for the user whose payment saved it. Forged commands (someone's card, another user) change
nothing, whether the consumer takes them one by one or in a batch, and are acknowledged as refused
(counted, logged), not retried into the dead-letter stream."""

from __future__ import annotations

import json
import uuid

import httpx
import redis
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from kinobill import keys
from kinobill.billing import tables as bt
from kinobill.events import CHARGE_COMMANDS, DEAD_LETTER_SUFFIX
from kinobill.messages import RenewalChargeRequested
from support import wait_until


def _forged(method: str) -> RenewalChargeRequested:
    subscription_id = uuid.uuid4()
    return RenewalChargeRequested(
        charge_key=keys.renewal_charge(subscription_id, 1, 0),
        subscription_id=subscription_id,
        user_id=uuid.uuid4(),
        user_email="attacker@example.com",
        period_index=1,
        amount=999_900,
        payment_method_id=method,
    )


def _refused_count(stack) -> float:
    text = httpx.get(f"{stack.worker_url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        if family.name == "kinobill_charge_commands":
            return sum(s.value for s in family.samples if s.labels.get("outcome") == "refused")
    return 0.0


def _publish(client: redis.Redis, commands: list[RenewalChargeRequested]) -> list[bytes]:
    pipe = client.pipeline(transaction=True)  # one read of the consumer takes them all: a batch
    for command in commands:
        pipe.xadd(CHARGE_COMMANDS, {"payload": json.dumps(command.to_json())})
    return list(pipe.execute())


def test_forged_charge_commands_charge_nothing_and_are_recorded_as_refused(stack, redis_url, plan, buyer, db):
    victim = buyer.subscribe(stack, plan)
    (paid,) = [p for p in buyer.payments() if p["subscription_id"] == victim["id"]]
    method = paid["payment_method_id"]
    assert method
    one, batch = [_forged(method)], [_forged(method), _forged(method), _forged(method)]
    charges_before = len(stack.sandbox.journal(operation="payments.create"))
    refused_before = _refused_count(stack)
    client = redis.Redis.from_url(redis_url)
    try:
        ids = _publish(client, one) + _publish(client, batch)
        wait_until(
            lambda: _refused_count(stack) >= refused_before + 4,
            timeout=30,
            message="the worker to refuse the four forged charge commands",
        )
        pending = client.xpending_range(CHARGE_COMMANDS, "billing", min="-", max="+", count=1000)
        assert not {p["message_id"] for p in pending} & set(ids)  # acknowledged
        dead = client.xrange(CHARGE_COMMANDS + DEAD_LETTER_SUFFIX)
        assert not {fields.get(b"source_id") for _id, fields in dead} & set(ids)
    finally:
        client.close()
        # No renewal of the victim's subscription in later tests that move the shared clock.
        assert buyer.subscriptions.post(f"/api/v1/subscriptions/{victim['id']}/cancel").status_code == 200

    attackers = [command.user_id for command in one + batch]
    with db.connect() as conn:
        rows = conn.execute(sa.select(bt.payments.c.id).where(bt.payments.c.user_id.in_(attackers))).all()
    assert rows == []
    assert len(stack.sandbox.journal(operation="payments.create")) == charges_before
