"""ChangeListener against the real (embedded) Redis and the contract stand-in."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from contract_server import ContractServer, item

from kinobill.auth_client import ActiveSubscriptionsClient, ChangeListener, InProcessCache, RedisCache

MakeClient = Callable[..., ActiveSubscriptionsClient]
PREMIUM = item("premium", "2026-12-31T00:00:00+00:00", "8f3a2b1c-0000-4000-8000-000000000001")


def wait_for(condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def change(user_id: str, event: str = "refunded") -> dict[str, str]:
    return {
        "user_id": user_id,
        "subscription_id": str(uuid.uuid4()),
        "event": event,
        "at": "2026-05-28T10:00:00+00:00",
    }


@pytest.fixture
def stream() -> str:
    return f"test:changes:{uuid.uuid4().hex}"


@pytest.fixture
def listeners() -> Iterator[list[ChangeListener]]:
    started: list[ChangeListener] = []
    yield started
    for listener in started:
        listener.stop()


def test_one_event_invalidates_the_next_get(
    contract: ContractServer,
    make_client: MakeClient,
    redis_client: redis.Redis,
    stream: str,
    listeners: list[ChangeListener],
    user_id: str,
) -> None:
    bystander = str(uuid.uuid4())
    contract.set_items(user_id, [PREMIUM])
    client = make_client(ttl=3600)
    client.get(user_id)
    client.get(bystander)
    listeners.append(ChangeListener(redis_client, client, stream, block_ms=200).start())
    client.get(user_id)
    assert contract.count(user_id) == 1
    contract.set_items(user_id, [])  # the refund, as Subscriptions sees it
    redis_client.xadd(stream, change(user_id))

    def next_get_hits_server() -> bool:
        return client.get(user_id).items == () and contract.count(user_id) == 2

    wait_for(next_get_hits_server, what="the next get() after the event to ask the server")
    client.get(user_id)
    client.get(bystander)
    assert contract.count(user_id) == 2 and contract.count(bystander) == 1
    assert listeners[0].applied == 1


def test_events_before_start_are_not_replayed_and_bad_events_are_skipped(
    redis_client: redis.Redis, stream: str, listeners: list[ChangeListener], clock
) -> None:
    cache = InProcessCache(clock=clock)
    deleted: list[str] = []

    class Recorder:
        def delete(self, user_id: str) -> None:
            deleted.append(user_id)
            cache.delete(user_id)

    old, new = str(uuid.uuid4()), str(uuid.uuid4())
    redis_client.xadd(stream, change(old))
    listener = ChangeListener(redis_client, Recorder(), stream, block_ms=200).start()
    listeners.append(listener)
    redis_client.xadd(stream, {"user_id": "not-a-uuid", "event": "changed"})
    redis_client.xadd(stream, change(new, "renewed"))
    wait_for(lambda: deleted == [new], what="the event after start")
    assert listener.skipped == 1 and listener.applied == 1


def test_resumes_after_its_last_applied_id(
    redis_client: redis.Redis, stream: str, listeners: list[ChangeListener]
) -> None:
    deleted: list[str] = []

    class Target:
        def invalidate(self, user_id: str) -> None:
            deleted.append(user_id)

    users = [str(uuid.uuid4()) for _ in range(3)]
    listener = ChangeListener(redis_client, Target(), stream, block_ms=100)
    listener.prepare()
    redis_client.xadd(stream, change(users[0]))
    assert listener.run_once() == 1
    redis_client.xadd(stream, change(users[1]))
    redis_client.xadd(stream, change(users[2]))
    assert listener.run_once() == 2  # not from "$" again: nothing published meanwhile is lost
    assert listener.run_once() == 0
    assert deleted == users


def test_stops_promptly(redis_client: redis.Redis, stream: str) -> None:
    listener = ChangeListener(redis_client, InProcessCache(), stream, block_ms=300).start()
    wait_for(lambda: listener.running, what="listener thread")
    started = time.monotonic()
    listener.stop()
    assert not listener.running
    assert time.monotonic() - started < 1.0


def test_consumer_group_applies_each_event_once_for_a_shared_cache(
    contract: ContractServer,
    make_client: MakeClient,
    redis_client: redis.Redis,
    redis_url: str,
    stream: str,
    listeners: list[ChangeListener],
    clock,
    user_id: str,
) -> None:
    contract.set_items(user_id, [PREMIUM])
    client = make_client(cache=RedisCache(redis_client, clock=clock), ttl=3600)
    client.get(user_id)
    key = f"kinobill:authcache:{user_id}"
    assert redis_client.exists(key) == 1
    # two Auth replicas, each with its own connection, one group
    conns = [redis.Redis.from_url(redis_url) for _ in range(2)]
    for i, conn in enumerate(conns):
        cache = RedisCache(conn, clock=clock)
        listeners.append(
            ChangeListener(
                conn, cache, stream, group="auth-cache", consumer=f"auth-{i}", block_ms=200
            ).start()
        )
    redis_client.xadd(stream, change(user_id))
    wait_for(lambda: redis_client.exists(key) == 0, what="the shared entry to be deleted")
    wait_for(lambda: sum(lst.applied for lst in listeners) == 1, what="one application")
    wait_for(lambda: redis_client.xpending(stream, "auth-cache")["pending"] == 0, what="the ack")
    client.get(user_id)
    assert contract.count(user_id) == 2
    for listener in listeners:
        listener.stop()
    for conn in conns:
        conn.close()


def test_consumer_group_retries_a_failed_invalidation(
    redis_client: redis.Redis, stream: str, listeners: list[ChangeListener], user_id: str
) -> None:
    calls: list[str] = []

    class Flaky:
        def invalidate(self, uid: str) -> None:
            calls.append(uid)
            if len(calls) == 1:
                raise ConnectionError("cache down")

    listener = ChangeListener(redis_client, Flaky(), stream, group="auth-cache", consumer="c1", block_ms=100)
    listener.prepare()
    redis_client.xadd(stream, change(user_id))
    with pytest.raises(ConnectionError):
        listener.run_once()
    assert redis_client.xpending(stream, "auth-cache")["pending"] == 1
    listener.run_once()  # re-reads its own pending entries first
    assert calls == [user_id, user_id] and listener.applied == 1
    assert redis_client.xpending(stream, "auth-cache")["pending"] == 0


def test_listener_survives_errors_in_its_thread(
    redis_client: redis.Redis, stream: str, listeners: list[ChangeListener], user_id: str
) -> None:
    calls: list[str] = []

    class FailsOnce:
        def delete(self, uid: str) -> None:
            calls.append(uid)
            if len(calls) == 1:
                raise RuntimeError("boom")

    listener = ChangeListener(redis_client, FailsOnce(), stream, block_ms=100).start()
    listeners.append(listener)
    redis_client.xadd(stream, change(user_id))
    wait_for(lambda: listener.applied == 1, what="the retried event")
    assert listener.errors == 1 and calls == [user_id, user_id] and listener.running
