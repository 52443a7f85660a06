"""Service layer for Auth's question "what grants this user access now?", answered from a Redis cache.

The answer is the user's ``active`` subscriptions whose access (``Subscription.access_until``: the
period end, plus the grace period while a renewal is being retried) has not ended at *now*, as a
compact body ``{"user_id", "items": [{"subscription_id", "plan_code", "period", "access_until"}]}``
with a strong ETag (a hash of the body, so equal bodies have equal ETags in every process).

Cache design (docs/active-subscriptions.md has the reasoning):

* **Entry** ``kinobill:access:{<user>}:entry``: the body and its ETag as they were at fill time, plus
  the window ``[filled_at, valid_until)`` in which they stay right without looking at the database:
  ``valid_until`` is the earliest ``access_until`` in the body. Inside the window a read is one Redis
  ``MGET`` and no JSON work. Outside it (the test clock moved, or an item's access ended) the items
  are filtered again at READ time with the current (test-clock-aware) now, so a cached answer never
  grants access past its end. Entries expire after ``ENTRY_TTL`` as a last bound.
* **Generation** ``kinobill:access:{<user>}:gen``: bumped (``INCR``) together with deleting the entry
  (one ``MULTI``) AFTER every committed change. A reader reads the generation in the same ``MGET`` as
  the entry, BEFORE it queries the database, and fills the cache with a Lua compare-and-set that
  writes only if the generation is still the one it read. So a reader that saw old rows can never
  cache them after the invalidation: if the change committed before the reader's ``MGET``, the
  reader's query sees it; if it committed after, the ``INCR`` that follows the commit makes the
  reader's fill a no-op (or deletes what it wrote first).
* **Who invalidates**: ``SubscriptionsUnitOfWork.commit`` right after the commit that wrote a
  ``kinobill:subscriptions:changes`` event (every code path that tells Auth about a change does it
  through ``uow.add_event``), and the ``access-cache`` worker from that stream (a consumer group of
  its own), which covers a process that died between its commit and its ``INCR``. Both are
  idempotent; a double invalidation costs one extra database read.

The two braces (``{<user>}``) are a Redis Cluster hash tag: both keys of a user live in one slot.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from kinobill.database_url import ConnectionPolicy, DatabaseUrl
from kinobill.domain import schedule
from kinobill.messages import SubscriptionChanged
from kinobill.subscriptions.repository import to_entity
from kinobill.unavailable import aretry_once_if_unavailable

log = logging.getLogger(__name__)

KEY_PREFIX = "kinobill:access:"
ENTRY_TTL_MS = 15 * 60 * 1000  # a last bound (plan codes cannot change once a plan has subscriptions)
GENERATION_TTL_MS = 24 * 3600 * 1000  # only has to outlive a fill (milliseconds); refreshed on INCR
FOREVER_US = 2**62  # valid_until of an answer with no items: nothing in it can end

# KEYS: generation, entry. ARGV: the generation the reader saw ("" = none), value, ttl ms.
FILL_SCRIPT = """
local g = redis.call('GET', KEYS[1]) or ''
if g == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""


def entry_key(user_id: str) -> str:
    return f"{KEY_PREFIX}{{{user_id}}}:entry"


def generation_key(user_id: str) -> str:
    return f"{KEY_PREFIX}{{{user_id}}}:gen"


def to_us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


@dataclass(frozen=True)
class AccessItem:
    subscription_id: str
    plan_code: str
    period: str
    access_until: datetime

    def to_json(self) -> dict[str, str]:
        return {
            "subscription_id": self.subscription_id,
            "plan_code": self.plan_code,
            "period": self.period,
            "access_until": self.access_until.astimezone(UTC).isoformat(),
        }


@dataclass(frozen=True)
class AccessAnswer:
    """What the endpoint sends: the JSON body (bytes) and its strong ETag."""

    body: bytes
    etag: str
    valid_until_us: int  # the earliest access_until in the body (FOREVER_US when empty)


def access_items(rows: Iterable[Any], policy: schedule.RenewalPolicy) -> list[AccessItem]:
    """Rows of ``active`` subscriptions (with ``plan_code``) → their items, through the entity's rule."""
    items = []
    for row in rows:
        until = to_entity(row).access_until(policy)
        if until is not None:
            items.append(AccessItem(str(row.id), row.plan_code, row.period, until))
    return items


def answer_for(user_id: str, items: Sequence[AccessItem], now: datetime) -> AccessAnswer:
    """The answer at ``now``: items whose access has not ended, sorted, hashed into the ETag."""
    live = sorted((i for i in items if now < i.access_until), key=lambda i: (i.plan_code, i.subscription_id))
    body = json.dumps(
        {"user_id": user_id, "items": [i.to_json() for i in live]}, separators=(",", ":")
    ).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    valid_until = min((to_us(i.access_until) for i in live), default=FOREVER_US)
    return AccessAnswer(body, etag, valid_until)


def items_of(body: bytes) -> list[AccessItem]:
    return [
        AccessItem(
            i["subscription_id"], i["plan_code"], i["period"], datetime.fromisoformat(i["access_until"])
        )
        for i in json.loads(body)["items"]
    ]


def encode_entry(answer: AccessAnswer, filled_at: datetime) -> bytes:
    return b"%d %d %s %s" % (to_us(filled_at), answer.valid_until_us, answer.etag.encode(), answer.body)


def decode_entry(raw: bytes) -> tuple[int, AccessAnswer]:
    filled, valid, etag, body = raw.split(b" ", 3)
    return int(filled), AccessAnswer(body, etag.decode(), int(valid))


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match for a strong ETag: ``*`` or any listed tag (W/ prefixes compared weakly)."""
    if not if_none_match:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return "*" in tags or etag in tags or f"W/{etag}" in tags


ACTIVE_ROWS_SQL = """
SELECT s.*, p.code AS plan_code
FROM subscriptions.subscriptions s JOIN subscriptions.plans p ON p.id = s.plan_id
WHERE s.user_id = %s AND s.status = 'active'
"""
"""The uncached read: one query, served by ``uq_subscriptions_user_plan_open`` (user_id, plan_id WHERE
status <> 'ended'), joined to plans for the code. EXPLAIN at 1M users: docs/active-subscriptions.md."""


class ActiveRows:
    """The uncached read on the event loop: a psycopg async pool per process, autocommit (no
    BEGIN/ROLLBACK round trips), the statement prepared by psycopg after a few uses per connection.

    It bypasses SQLAlchemy on purpose: the unit of work costs ~1 ms per call here (pool pre-ping,
    BEGIN, ROLLBACK, the thread pool hop) against ~0.1 ms for the query itself.
    """

    def __init__(
        self,
        database_url: str,
        *,
        min_size: int = 2,
        max_size: int = 10,
        policy: ConnectionPolicy | None = None,
        pool_timeout: float = 5.0,
    ) -> None:
        from psycopg.rows import namedtuple_row
        from psycopg_pool import AsyncConnectionPool

        # Every host of DATABASE_URL, target_session_attrs, timeouts and keepalives: the same as the
        # SQLAlchemy engine's, so this pool follows the leader too. `check` drops a connection a
        # failover broke before it is handed out; `timeout` bounds the wait for one (then: 503).
        self.pool = AsyncConnectionPool(
            DatabaseUrl.parse(database_url).conninfo(policy or ConnectionPolicy()),
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True, "row_factory": namedtuple_row},
            check=AsyncConnectionPool.check_connection,
            timeout=pool_timeout,
            reconnect_timeout=60,
            open=False,
        )
        self._opened = False

    async def __call__(self, user_id: uuid.UUID) -> Sequence[Any]:
        if not self._opened:
            self._opened = True
            await self.pool.open()
        return await aretry_once_if_unavailable(lambda: self._read(user_id), what="active subscriptions")

    async def _read(self, user_id: uuid.UUID) -> Sequence[Any]:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(ACTIVE_ROWS_SQL, (user_id,))
            return await cursor.fetchall()


class ActiveAccess:
    """The cached read, for the endpoint. ``rows(user_id)`` is the uncached read (e.g.
    :class:`ActiveRows`); ``aredis`` a ``redis.asyncio`` client; ``now`` the (test-clock-aware) clock."""

    def __init__(
        self,
        *,
        rows: Callable[[uuid.UUID], Awaitable[Sequence[Any]]],
        now: Callable[[], datetime],
        aredis: Any,
        policy: schedule.RenewalPolicy = schedule.DEFAULT_POLICY,
        entry_ttl_ms: int = ENTRY_TTL_MS,
    ) -> None:
        self.rows, self.now, self.aredis = rows, now, aredis
        self.policy, self.entry_ttl_ms = policy, entry_ttl_ms
        self._fill = aredis.register_script(FILL_SCRIPT)

    async def load(self, user_id: uuid.UUID) -> list[AccessItem]:
        return access_items(await self.rows(user_id), self.policy)

    async def answer(self, user_id: uuid.UUID) -> tuple[AccessAnswer, bool]:
        """The answer now, and whether it came from the cache."""
        uid = str(user_id)
        now = self.now()
        now_us = to_us(now)
        try:
            raw, generation = await self.aredis.mget(entry_key(uid), generation_key(uid))
        except redis.RedisError:  # no cache: still answer, from the database, and fill nothing
            log.warning("access cache read failed for %s", uid, exc_info=True)
            return answer_for(uid, await self.load(user_id), now), False
        if raw is not None:
            filled_us, cached = decode_entry(raw)
            if filled_us <= now_us < cached.valid_until_us:
                return cached, True
            if filled_us <= now_us:  # some item ended since the fill: filter again, at read time
                return answer_for(uid, items_of(cached.body), now), True
            # the (test) clock moved back before the fill: the entry may lack items, read again
        fresh = answer_for(uid, await self.load(user_id), now)
        try:
            await self._fill(
                keys=[generation_key(uid), entry_key(uid)],
                args=[generation or b"", encode_entry(fresh, now), self.entry_ttl_ms],
            )
        except redis.RedisError:
            log.warning("access cache fill failed for %s", uid, exc_info=True)
        return fresh, False


def apply_change_event(client: redis.Redis, event: SubscriptionChanged) -> None:
    """The ``access-cache`` worker's handler for one ``kinobill:subscriptions:changes`` entry."""
    invalidate(client, [str(event.user_id)])


def invalidate(client: redis.Redis, user_ids: Iterable[str]) -> None:
    """After a committed change: bump each user's generation and drop the entry (one round trip)."""
    pipe = client.pipeline(transaction=True)
    for uid in user_ids:
        pipe.incr(generation_key(uid))
        pipe.pexpire(generation_key(uid), GENERATION_TTL_MS)
        pipe.delete(entry_key(uid))
    pipe.execute()
