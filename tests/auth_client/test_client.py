"""The client against a stand-in HTTP server speaking the contract (see contract_server.py).

Kept on the stand-in because these tests need what the real service cannot produce on demand: 503s
(all, or the next k), slow answers, exact request counts per user, code run mid-request. The
client against the real Subscriptions service: test_against_subscriptions.py, tests/access/.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import redis
from contract_server import ContractServer, item

from kinobill.auth_client import (
    ActiveSubscriptionsClient,
    CacheUnavailable,
    InProcessCache,
    RedisCache,
    SubscriptionsRequestError,
    SubscriptionsUnavailable,
    has_access,
)

MakeClient = Callable[..., ActiveSubscriptionsClient]

PREMIUM = item("premium", "2026-12-31T00:00:00+00:00", "8f3a2b1c-0000-4000-8000-000000000001", "year")
KIDS = item("kids", "2026-07-01T12:30:00+03:00", "8f3a2b1c-0000-4000-8000-000000000002")


def test_fetches_and_builds_the_claim(
    contract: ContractServer, make_client: MakeClient, user_id: str
) -> None:
    contract.set_items(user_id, [PREMIUM, KIDS])
    client = make_client()
    subs = client.get(user_id)
    assert not subs.stale
    assert [i.plan_code for i in subs.items] == ["premium", "kids"]
    assert subs.items[1].access_until == datetime(2026, 7, 1, 9, 30, tzinfo=UTC)
    assert subs.etag == contract.etag_of(contract.body_for(user_id))
    claim = client.claim_for(user_id, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert claim == {"subs": "kids:1782898200 premium:1798675200"}
    assert has_access(claim["subs"], "kids", datetime(2026, 7, 1, 9, 29, tzinfo=UTC))


def test_second_get_is_served_from_cache(
    contract: ContractServer, make_client: MakeClient, user_id: str
) -> None:
    contract.set_items(user_id, [PREMIUM])
    client = make_client()
    first = client.get(user_id)
    second = client.get(uuid.UUID(user_id))  # same user, other spelling
    assert contract.count(user_id) == 1
    assert second.items == first.items and client.stats.hits == 1


def test_expired_entry_is_revalidated_with_etag(
    contract: ContractServer, make_client: MakeClient, clock, user_id: str
) -> None:
    contract.set_items(user_id, [PREMIUM])
    client = make_client(ttl=60)
    first = client.get(user_id)
    clock.advance(59)
    client.get(user_id)
    assert contract.count(user_id) == 1
    clock.advance(2)
    again = client.get(user_id)
    seen = contract.requests[-1]
    assert (seen.if_none_match, seen.status) == (first.etag, 304)
    assert again.items == first.items and again.fetched_at == clock.now and not again.stale
    clock.advance(59)  # the 304 made it fresh for another ttl
    client.get(user_id)
    assert contract.count(user_id) == 2 and client.stats.revalidated == 1


def test_changed_content_replaces_the_entry_after_expiry(
    contract: ContractServer, make_client: MakeClient, clock, user_id: str
) -> None:
    contract.set_items(user_id, [PREMIUM])
    client = make_client(ttl=60)
    old = client.get(user_id)
    contract.set_items(user_id, [PREMIUM, KIDS])
    clock.advance(61)
    new = client.get(user_id)
    assert contract.requests[-1].status == 200
    assert len(new.items) == 2 and new.etag != old.etag


def test_stale_answer_while_server_answers_503(
    contract: ContractServer, make_client: MakeClient, clock, user_id: str
) -> None:
    contract.set_items(user_id, [PREMIUM])
    client = make_client(ttl=60, retries=2)
    fresh = client.get(user_id)
    contract.mode = "503"
    clock.advance(120)
    stale = client.get(user_id)
    assert stale.stale and stale.items == fresh.items and stale.fetched_at == fresh.fetched_at
    assert contract.count(user_id, status=503) == 3  # one attempt + 2 retries
    assert client.claim_for(user_id, now=datetime(2026, 1, 1, tzinfo=UTC)) == {"subs": "premium:1798675200"}
    contract.mode = "up"
    back = client.get(user_id)
    assert not back.stale and contract.requests[-1].status == 304


def test_stale_answer_while_server_is_gone(
    contract: ContractServer, make_client: MakeClient, clock, user_id: str
) -> None:
    contract.set_items(user_id, [PREMIUM])
    client = make_client(ttl=60)
    client.get(user_id)
    contract.stop()
    clock.advance(61)
    assert client.get(user_id).stale
    assert client.stats.stale_served == 1


def test_stale_answer_is_dropped_after_stale_ttl(
    contract: ContractServer, make_client: MakeClient, clock, user_id: str
) -> None:
    contract.set_items(user_id, [PREMIUM])
    client = make_client(ttl=60, stale_ttl=600)
    client.get(user_id)
    contract.mode = "503"
    clock.advance(60 + 599)
    assert client.get(user_id).stale
    clock.advance(2)
    with pytest.raises(SubscriptionsUnavailable):
        client.get(user_id)


def test_error_when_down_and_nothing_cached(
    contract: ContractServer, make_client: MakeClient, user_id: str
) -> None:
    contract.mode = "503"
    client = make_client(retries=2)
    with pytest.raises(SubscriptionsUnavailable, match="nothing cached"):
        client.get(user_id)
    assert contract.count(user_id) == 3
    contract.stop()
    with pytest.raises(SubscriptionsUnavailable):
        client.get(user_id)


def test_retries_on_5xx_then_succeeds(
    contract: ContractServer, make_client: MakeClient, user_id: str
) -> None:
    contract.set_items(user_id, [KIDS])
    contract.fail_next = 2
    subs = make_client(retries=2).get(user_id)
    assert [i.plan_code for i in subs.items] == ["kids"]
    assert [r.status for r in contract.requests] == [503, 503, 200]


def test_retries_are_bounded(contract: ContractServer, make_client: MakeClient, user_id: str) -> None:
    contract.fail_next = 2
    with pytest.raises(SubscriptionsUnavailable):
        make_client(retries=1).get(user_id)
    assert contract.count(user_id) == 2


def test_timeout_is_honoured(contract: ContractServer, make_client: MakeClient, clock, user_id: str) -> None:
    contract.set_items(user_id, [PREMIUM])
    client = make_client(timeout=0.2, retries=2, deadline=0.5, ttl=60)
    client.get(user_id)
    contract.delay = 2.0
    clock.advance(61)
    started = time.monotonic()
    assert client.get(user_id).stale
    assert time.monotonic() - started < 1.2  # well under the 2 s the server takes
    other = str(uuid.uuid4())
    started = time.monotonic()
    with pytest.raises(SubscriptionsUnavailable, match="Timeout"):
        client.get(other)
    assert time.monotonic() - started < 1.2
    contract.delay = 0.0


def test_bad_service_token_is_a_loud_error_even_with_a_cached_answer(
    contract: ContractServer, make_client: MakeClient, clock, user_id: str
) -> None:
    contract.set_items(user_id, [PREMIUM])
    cache = InProcessCache(clock=clock)
    make_client(cache=cache).get(user_id)
    wrong = make_client(cache=cache, service_token="nope", retries=2)
    clock.advance(61)
    with pytest.raises(SubscriptionsRequestError) as info:
        wrong.get(user_id)
    assert (info.value.status, info.value.code) == (401, "unauthorized")
    assert contract.count(user_id, status=401) == 1  # not retried


def test_invalidate_forgets_the_user(contract: ContractServer, make_client: MakeClient, user_id: str) -> None:
    contract.set_items(user_id, [PREMIUM])
    client = make_client()
    client.get(user_id)
    client.invalidate(user_id)
    client.get(user_id)
    assert [r.status for r in contract.requests] == [200, 200]  # deleted, not just expired: no 304 dance


def test_fetch_racing_an_invalidation_is_not_cached_as_fresh(
    contract: ContractServer, make_client: MakeClient, user_id: str
) -> None:
    contract.set_items(user_id, [PREMIUM])
    client = make_client()
    contract.on_request = lambda uid: client.invalidate(uid)  # a change lands mid-request
    client.get(user_id)
    contract.on_request = None
    client.get(user_id)
    assert contract.count(user_id) == 2


def test_too_many_subscriptions_become_a_reference(
    contract: ContractServer, make_client: MakeClient, user_id: str
) -> None:
    items = [item(f"plan{i:03d}", "2030-01-01T00:00:00+00:00", str(uuid.uuid4())) for i in range(5)]
    contract.set_items(user_id, items)
    assert make_client(max_claim_entries=5).claim_for(user_id)["subs"].count(":") == 5
    capped = make_client(max_claim_entries=4).claim_for(user_id)
    assert capped == {"subs_ref": contract.etag_of(contract.body_for(user_id))}


def test_no_subscriptions_is_an_empty_claim(
    contract: ContractServer, make_client: MakeClient, user_id: str
) -> None:
    assert make_client().claim_for(user_id) == {"subs": ""}


def test_rejects_non_uuid_user_ids(make_client: MakeClient) -> None:
    with pytest.raises(ValueError):
        make_client().get("../../admin")


def test_redis_cache_is_shared_between_clients(
    contract: ContractServer,
    make_client: MakeClient,
    redis_client: redis.Redis,
    redis_url: str,
    clock,
    user_id: str,
) -> None:
    contract.set_items(user_id, [PREMIUM])
    first = make_client(cache=RedisCache(redis_client, clock=clock), ttl=60, stale_ttl=600)
    other_connection = redis.Redis.from_url(redis_url)
    second = make_client(cache=RedisCache(other_connection, clock=clock), ttl=60)
    a = first.get(user_id)
    b = second.get(user_id)
    assert contract.count(user_id) == 1 and a.items == b.items and second.stats.hits == 1
    key = f"kinobill:authcache:{user_id}"
    assert 0 < redis_client.pttl(key) <= 660_000
    clock.advance(61)
    second.get(user_id)  # revalidation by one client refreshes the entry for both
    first.get(user_id)
    assert [r.status for r in contract.requests] == [200, 304]
    first.invalidate(user_id)
    assert redis_client.exists(key) == 0
    other_connection.close()


def test_broken_cache_does_not_break_token_issuance(
    contract: ContractServer, make_client: MakeClient, user_id: str
) -> None:
    contract.set_items(user_id, [PREMIUM])
    cache = RedisCache.from_url("unix:///nonexistent/redis.sock", cooldown=60)
    client = make_client(cache=cache)
    started = time.monotonic()
    assert client.get(user_id).items[0].plan_code == "premium"
    assert client.get(user_id).items[0].plan_code == "premium"
    assert time.monotonic() - started < 1.0
    assert client.stats.cache_errors == 4  # two reads, two writes: none cached, both fetched
    assert contract.count(user_id) == 2
    with pytest.raises(CacheUnavailable):  # cooling down: Redis is not even asked
        cache.get(user_id)


def test_in_process_cache_is_a_bounded_lru(contract: ContractServer, make_client: MakeClient, clock) -> None:
    users = [str(uuid.uuid4()) for _ in range(3)]
    cache = InProcessCache(max_entries=2, clock=clock)
    client = make_client(cache=cache)
    client.get(users[0])
    client.get(users[1])
    client.get(users[0])  # now users[1] is least recently used
    client.get(users[2])
    assert len(cache) == 2 and cache.get(users[1]) is None and cache.get(users[0]) is not None
