"""The stream consumer against a real Redis: infrastructure failures never dead-letter a message, poison
does (and can be replayed), and a consumer whose group Redis lost recreates it and goes on."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis
import sqlalchemy.exc

from kinobill.events import DEAD_LETTER_SUFFIX
from kinobill.streams import StreamConsumer, dead_letters, replay_dead_letters
from kinobill.transient import is_transient
from support import kinobill_command, wait_until


@pytest.fixture()
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


class Flaky:
    """A handler that fails `times` times with `error`, then succeeds."""

    def __init__(self, error: Exception, times: int) -> None:
        self.error, self.times, self.calls = error, times, 0
        self.done: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> None:
        self.calls += 1
        if self.calls <= self.times:
            raise self.error
        self.done.append(event)


def running(consumer: StreamConsumer) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def consumer_for(client: redis.Redis, stream: str, handler: Any) -> StreamConsumer:
    return StreamConsumer(
        client, stream, "g", "c1", handler, block_ms=50, claim_idle_ms=100, max_deliveries=3, max_backoff=0.05
    )


def read_only() -> Exception:
    cause = psycopg.errors.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction")
    return sqlalchemy.exc.InternalError("INSERT ...", {}, cause)


@pytest.mark.parametrize(
    "error",
    [read_only(), redis.ConnectionError("Connection refused"), psycopg.OperationalError("server closed")],
    ids=["read-only", "redis-down", "connection-lost"],
)
def test_infrastructure_failures_are_retried_and_never_dead_letter(client, error):
    stream = f"test:{uuid.uuid4().hex}"
    handler = Flaky(error, times=8)  # far more than max_deliveries
    client.xadd(stream, {"payload": json.dumps({"n": 1})})
    stop, thread = running(consumer_for(client, stream, handler))
    try:
        wait_until(lambda: handler.done, timeout=20, message="the message applied once the fault is gone")
    finally:
        stop.set()
        thread.join(5)
    assert handler.done == [{"n": 1}] and handler.calls == 9
    assert client.xlen(stream + DEAD_LETTER_SUFFIX) == 0
    assert client.xpending(stream, "g")["pending"] == 0


def test_poison_is_dead_lettered_and_replayed_by_the_command(client, redis_url):
    stream = f"test:{uuid.uuid4().hex}"
    handler = Flaky(ValueError("badly formed"), times=3)
    client.xadd(stream, {"payload": json.dumps({"n": 2})})
    stop, thread = running(consumer_for(client, stream, handler))
    try:
        ((dead_id, dead),) = wait_until(
            lambda: dead_letters(client, stream), timeout=20, message="dead letter"
        )
        assert b"badly formed" in dead[b"error"] and json.loads(dead[b"payload"]) == {"n": 2}
        listed = subprocess.run(
            kinobill_command("streams", "dead", "--stream", stream),
            env={**os.environ, "REDIS_URL": redis_url},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert dead_id.decode() in listed.stdout and "badly formed" in listed.stdout
        assert replay_dead_letters(client, stream) == 1  # the cause is fixed: the handler now succeeds
        wait_until(lambda: handler.done, timeout=20, message="the replayed message applied")
    finally:
        stop.set()
        thread.join(5)
    assert handler.done == [{"n": 2}]
    assert client.xlen(stream + DEAD_LETTER_SUFFIX) == 0


def test_a_consumer_whose_group_redis_lost_recreates_it_and_goes_on(client):
    stream = f"test:{uuid.uuid4().hex}"
    handler = Flaky(ValueError("never"), times=0)
    consumer = consumer_for(client, stream, handler)
    stop, thread = running(consumer)
    try:
        client.xadd(stream, {"payload": json.dumps({"n": 1})})
        wait_until(lambda: len(handler.done) == 1, message="the first message")
        client.delete(stream)  # the stream and its group are gone (FLUSHALL, trim, empty replica)
        client.xadd(stream, {"payload": json.dumps({"n": 2})})  # a new stream, without the group
        wait_until(lambda: len(handler.done) == 2, timeout=20, message="the message after the loss")
        assert consumer.poll_age() < 5
    finally:
        stop.set()
        thread.join(5)


def test_what_counts_as_transient():
    assert is_transient(read_only())
    assert is_transient(psycopg.errors.SerializationFailure("could not serialize"))
    assert is_transient(redis.ConnectionError("refused"))
    assert not is_transient(ValueError("badly formed hexadecimal UUID string"))
    assert not is_transient(KeyError("subscription_id"))
    assert not is_transient(psycopg.errors.UniqueViolation("duplicate key"))
