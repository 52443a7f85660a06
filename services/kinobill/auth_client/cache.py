"""Where the client keeps Subscriptions' answers: in the process, or in a Redis shared by Auth replicas.

An entry has two deadlines, both absolute epoch seconds (wall clock, so that entries shared through
Redis mean the same thing in every process):

* ``fresh_until``: until then the entry is served without asking Subscriptions;
* ``keep_until``: until then it is kept, to revalidate cheaply (``If-None-Match`` with its ETag) and
  to be served as a *stale* fallback while Subscriptions is down. After it the entry is gone.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

DEFAULT_PREFIX = "kinobill:authcache:"


@dataclass(frozen=True)
class CacheEntry:
    body: str
    """The 200 response body exactly as received (JSON text)."""
    etag: str | None
    fetched_at: float
    fresh_until: float
    keep_until: float

    def is_fresh(self, now: float) -> bool:
        return now < self.fresh_until

    def refreshed(self, now: float, ttl: float, keep: float) -> CacheEntry:
        """The same answer, confirmed again at ``now`` (a 304)."""
        return replace(self, fetched_at=now, fresh_until=now + ttl, keep_until=now + ttl + keep)

    def expired(self) -> CacheEntry:
        """The same answer, to be revalidated before it is served as fresh again."""
        return replace(self, fresh_until=0.0)

    def to_json(self) -> str:
        return json.dumps(
            {
                "body": self.body,
                "etag": self.etag,
                "fetched_at": self.fetched_at,
                "fresh_until": self.fresh_until,
                "keep_until": self.keep_until,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> CacheEntry:
        data: dict[str, Any] = json.loads(raw)
        return cls(
            body=data["body"],
            etag=data["etag"],
            fetched_at=float(data["fetched_at"]),
            fresh_until=float(data["fresh_until"]),
            keep_until=float(data["keep_until"]),
        )


@runtime_checkable
class SubscriptionCache(Protocol):
    """What the client needs from a cache. Implementations must be safe to call from many threads."""

    def get(self, user_id: str) -> CacheEntry | None: ...

    def set(self, user_id: str, entry: CacheEntry) -> None: ...

    def delete(self, user_id: str) -> None: ...


class InProcessCache:
    """A bounded LRU of entries, dropped after their ``keep_until``; one lock around everything.

    ``max_entries`` bounds memory: an entry is a few hundred bytes, so the default 100k is tens of MB
    at most and covers the users logging in within the keep window on one Auth replica.
    """

    def __init__(self, max_entries: int = 100_000, *, clock: Callable[[], float] = time.time) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self.max_entries = max_entries
        self._clock = clock
        self._data: OrderedDict[str, CacheEntry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, user_id: str) -> CacheEntry | None:
        with self._lock:
            entry = self._data.get(user_id)
            if entry is None:
                return None
            if self._clock() >= entry.keep_until:
                del self._data[user_id]
                return None
            self._data.move_to_end(user_id)
            return entry

    def set(self, user_id: str, entry: CacheEntry) -> None:
        with self._lock:
            self._data[user_id] = entry
            self._data.move_to_end(user_id)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def delete(self, user_id: str) -> None:
        with self._lock:
            self._data.pop(user_id, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


class CacheUnavailable(Exception):
    """The shared cache failed recently; it is skipped until its cool-down ends."""


class RedisCache:
    """Entries under ``kinobill:authcache:{user_id}``, expiring in Redis at their ``keep_until``.

    Shared by all Auth replicas: one fetch serves them all, and one invalidation reaches them all.
    ``redis_client`` is a ``redis.Redis`` (either ``decode_responses`` setting). Redis errors are
    raised to the client, which treats the cache as empty and still answers from Subscriptions.

    This cache sits on the token-issuing path, so give it a client that fails FAST:
    :meth:`from_url` does (100 ms timeouts, one retry without backoff). redis-py's own defaults
    (5 s socket timeout, 10 retries with exponential backoff) would stall every token request for
    seconds while Redis is unreachable. After a failure, reads and writes are skipped for
    ``cooldown`` seconds (raising :class:`CacheUnavailable` at once); deletions are always tried,
    since a lost invalidation would let a known-wrong answer be served as fresh.
    """

    def __init__(
        self,
        redis_client: Any,
        *,
        prefix: str = DEFAULT_PREFIX,
        cooldown: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis_client
        self.prefix = prefix
        self.cooldown = cooldown
        self._clock = clock
        self._down_until = 0.0

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 0.1, **kwargs: Any) -> RedisCache:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 1)
        )
        return cls(client, **kwargs)

    def _guard(self) -> None:
        if time.monotonic() < self._down_until:
            raise CacheUnavailable(f"Redis cache failed less than {self.cooldown}s ago")

    def _failed(self) -> None:
        self._down_until = time.monotonic() + self.cooldown

    def key(self, user_id: str) -> str:
        return f"{self.prefix}{user_id}"

    def get(self, user_id: str) -> CacheEntry | None:
        self._guard()
        try:
            raw = self._redis.get(self.key(user_id))
        except Exception:
            self._failed()
            raise
        if raw is None:
            return None
        try:
            return CacheEntry.from_json(raw)
        except (ValueError, KeyError, TypeError):
            return None  # written by an incompatible version: a miss, overwritten by the next set

    def set(self, user_id: str, entry: CacheEntry) -> None:
        self._guard()
        ttl_ms = int((entry.keep_until - self._clock()) * 1000)
        try:
            if ttl_ms <= 0:
                self._redis.delete(self.key(user_id))
            else:
                self._redis.set(self.key(user_id), entry.to_json(), px=ttl_ms)
        except Exception:
            self._failed()
            raise

    def delete(self, user_id: str) -> None:
        self._redis.delete(self.key(user_id))
