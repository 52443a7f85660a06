"""Notifications: events, retries with backoff until the (compressed) 24 h window, webhook faults."""

from __future__ import annotations

import itertools
import time

from yookassa.domain.notification import WebhookNotificationFactory

from yookassa_sandbox.testing import SandboxHandle, wait_until

from .conftest import Receiver
from .helpers import SUCCESS_CARD, create, paid


def delivered(sandbox: SandboxHandle, object_id: str) -> list[dict]:
    return [d for d in sandbox.webhook_deliveries(object_id=object_id) if d["status"] == "delivered"]


def test_notification_parses_with_the_sdk(sandbox: SandboxHandle, receiver: Receiver) -> None:
    payment = paid(sandbox)
    [note] = wait_until(lambda: receiver.accepted("payment.succeeded", payment.id))
    parsed = WebhookNotificationFactory().create(note)
    assert parsed.event == "payment.succeeded" and parsed.object.id == payment.id
    assert parsed.object.status == "succeeded"
    # The receiver sees the POST before the sandbox has read the answer and marked the delivery.
    [delivery] = wait_until(lambda: delivered(sandbox, payment.id))
    assert delivery["attempts"][0]["http_status"] == 200


def test_non_200_is_retried_until_accepted(sandbox: SandboxHandle, receiver: Receiver) -> None:
    # 10 s, 30 s, 60 s scaled to 0.1 s, 0.3 s, 0.6 s: wide enough that scheduling jitter cannot hide growth.
    sandbox.update_settings(webhook_retry_scale=0.01)
    receiver.codes = [500, 404, 302]
    payment = paid(sandbox)
    wait_until(lambda: receiver.accepted("payment.succeeded", payment.id), timeout=10)
    codes = [p["code"] for p in receiver.all_posts() if p["body"]["object"]["id"] == payment.id]
    assert codes == [500, 404, 302, 200]
    times = [p["time"] for p in receiver.all_posts()]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[1] > gaps[0] * 1.5  # backoff grows
    [delivery] = wait_until(lambda: delivered(sandbox, payment.id))
    assert len(delivery["attempts"]) == 4


def test_retries_stop_after_the_window(sandbox: SandboxHandle, receiver: Receiver) -> None:
    sandbox.update_settings(webhook_retry_scale=0.00002)  # 24 h -> 1.7 s
    receiver.always = 503
    payment = paid(sandbox)
    failed = wait_until(
        lambda: [d for d in sandbox.webhook_deliveries(object_id=payment.id) if d["status"] == "failed"],
        timeout=10,
    )
    attempts = len(failed[0]["attempts"])
    assert attempts > 5
    assert failed[0]["attempts"][-1]["time"] - failed[0]["created"] <= 86400 * 0.00002 + 0.5
    assert len(receiver.all_posts()) == attempts


def test_unreachable_receiver_is_retried(sandbox: SandboxHandle, receiver: Receiver) -> None:
    sandbox.set_webhook_url("http://127.0.0.1:9/nothing-listens-here")
    payment = paid(sandbox)
    wait_until(lambda: len(sandbox.webhook_deliveries(object_id=payment.id)[0]["attempts"]) >= 2)
    sandbox.set_webhook_url(f"{receiver.url}/hook")  # the target can change at runtime
    wait_until(lambda: receiver.accepted("payment.succeeded", payment.id), timeout=10)


def test_duplicate(sandbox: SandboxHandle, receiver: Receiver) -> None:
    sandbox.add_fault("webhook_duplicate", "payment.succeeded", copies=3)
    payment = paid(sandbox)
    notes = wait_until(
        lambda: (n := receiver.accepted("payment.succeeded", payment.id)) and len(n) == 3 and n
    )
    assert notes[0] == notes[1] == notes[2]
    second = paid(sandbox)
    wait_until(lambda: receiver.accepted("payment.succeeded", second.id))
    assert len(receiver.accepted("payment.succeeded", second.id)) == 1


def test_drop_loses_the_notification(sandbox: SandboxHandle, receiver: Receiver) -> None:
    sandbox.add_fault("webhook_drop", "payment.succeeded")
    lost = paid(sandbox)
    kept = paid(sandbox)
    wait_until(lambda: receiver.accepted("payment.succeeded", kept.id))
    assert receiver.accepted(object_id=lost.id) == []
    assert sandbox.webhook_deliveries(object_id=lost.id)[0]["status"] == "dropped"


def test_delay(sandbox: SandboxHandle, receiver: Receiver) -> None:
    sandbox.add_fault("webhook_delay", "*", latency_ms=500)
    started = time.time()
    payment = paid(sandbox)
    [note] = wait_until(lambda: receiver.accepted("payment.succeeded", payment.id), timeout=5)
    assert receiver.all_posts()[0]["time"] - started >= 0.5
    assert note["object"]["id"] == payment.id


def test_reorder(sandbox: SandboxHandle, receiver: Receiver) -> None:
    sandbox.add_fault("webhook_reorder", "*", count=2)
    payment = create(capture=False)
    sandbox.confirm(payment.id, SUCCESS_CARD)  # payment.waiting_for_capture: held
    assert sandbox.webhook_deliveries()[0]["status"] == "held"
    sandbox.expire(payment.id)  # payment.canceled: releases both, newest first
    wait_until(lambda: len(receiver.accepted(object_id=payment.id)) == 2)
    assert [n["event"] for n in receiver.accepted()] == ["payment.canceled", "payment.waiting_for_capture"]


def test_events_of_the_whole_lifecycle(sandbox: SandboxHandle, receiver: Receiver) -> None:
    payment = create(capture=False)
    sandbox.confirm(payment.id, SUCCESS_CARD)
    wait_until(lambda: receiver.accepted("payment.waiting_for_capture", payment.id))
    declined = create()
    sandbox.confirm(declined.id, "5555555555554535")
    note = wait_until(lambda: receiver.accepted("payment.canceled", declined.id))[0]
    assert note["object"]["cancellation_details"]["reason"] == "call_issuer"
