"""Auth's client for Subscriptions' ``GET /internal/v1/users/{user_id}/subscriptions/active``.

Behaviour, in the order ``get()`` applies it:

1. a fresh cached answer (younger than ``ttl``) is returned without a request;
2. otherwise Subscriptions is asked, with ``If-None-Match: <etag>`` when an older answer is cached:
   a 304 only makes that answer fresh again, a 200 replaces it;
3. each attempt has ``timeout`` seconds; connection errors, timeouts and 5xx are retried ``retries``
   times with a short jittered backoff, all within ``deadline`` seconds in total, so a token request
   never waits on Subscriptions longer than that;
4. when Subscriptions stays unavailable, the cached answer is returned marked ``stale=True`` (kept up to
   ``stale_ttl`` seconds past its freshness); with nothing cached :class:`SubscriptionsUnavailable`
   is raised;
5. a 4xx (a bad service token, an unknown route) is a configuration error, raised as
   :class:`SubscriptionsRequestError` and never hidden behind a stale answer.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import httpx
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from .cache import CacheEntry, InProcessCache, SubscriptionCache
from .claim import CLAIM_NAME, REF_CLAIM_NAME, encode_claim

log = logging.getLogger(__name__)

PATH = "/internal/v1/users/{user_id}/subscriptions/active"

DEFAULT_MAX_CLAIM_ENTRIES = 32
"""Above this many subscriptions ``claim_for`` returns ``subs_ref`` instead of ``subs``.

32 entries with the longest allowed plan codes (32 characters) keep an RS256 token well inside a
4 KiB cookie (see docs/jwt-capacity.md); real users hold a handful.
"""


class SubscriptionsError(Exception):
    """Base of the errors this client raises."""


class SubscriptionsUnavailable(SubscriptionsError):
    """Subscriptions did not answer usefully (down, timeout, 5xx, 429, bad body) and nothing is cached."""


class SubscriptionsRequestError(SubscriptionsError):
    """Subscriptions refused the request (4xx other than 429): fix the configuration, retrying won't help."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"Subscriptions answered {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class _Unavailable(Exception):
    """Internal: an attempt failed in a way that a stale answer may cover."""


class _Retryable(_Unavailable):
    """Internal: an attempt failed in a way worth another attempt."""


@dataclass(frozen=True)
class SubscriptionItem:
    subscription_id: str
    plan_code: str
    period: str
    access_until: datetime


@dataclass(frozen=True)
class ActiveSubscriptions:
    user_id: str
    items: tuple[SubscriptionItem, ...]
    etag: str | None
    fetched_at: float
    """When Subscriptions last confirmed this answer (epoch seconds)."""
    stale: bool = False
    """True when served from cache because Subscriptions could not be reached."""

    def claim(
        self, *, now: datetime | float | None = None, max_entries: int = DEFAULT_MAX_CLAIM_ENTRIES
    ) -> dict[str, str]:
        """The claim dict for Auth's payload: ``{"subs": ...}``, or ``{"subs_ref": etag}`` when too many.

        Items already over at ``now`` are left out (a cached or stale answer may outlive them).
        ``subs_ref`` means "too many to embed: look them up by ``sub``"; its value is the ETag of the
        set the token was issued against.
        """
        value = encode_claim(self.items, now=time.time() if now is None else now)
        count = value.count(" ") + 1 if value else 0
        if count > max_entries:
            return {REF_CLAIM_NAME: self.etag or ""}
        return {CLAIM_NAME: value}


@dataclass
class ClientStats:
    """Counters for dashboards and tests (updated without a lock: approximate under contention)."""

    hits: int = 0
    fetched: int = 0
    revalidated: int = 0
    stale_served: int = 0
    unavailable: int = 0
    cache_errors: int = 0
    invalidations: int = 0


def _normalise_user_id(user_id: str | uuid.UUID) -> str:
    try:
        return str(user_id if isinstance(user_id, uuid.UUID) else uuid.UUID(str(user_id)))
    except ValueError as exc:
        raise ValueError(f"user_id must be a UUID, got {user_id!r}") from exc


def parse_body(user_id: str, body: str) -> tuple[SubscriptionItem, ...]:
    """Validate a 200 body of the contract; raises ValueError on anything unexpected."""
    data = json.loads(body)
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise ValueError("body is not {'user_id': ..., 'items': [...]}")
    if str(data.get("user_id")) != user_id:
        raise ValueError(f"body is for user {data.get('user_id')!r}, asked for {user_id!r}")
    items = []
    for raw in data["items"]:
        until = datetime.fromisoformat(raw["access_until"])
        if until.tzinfo is None:
            raise ValueError(f"access_until without offset: {raw['access_until']!r}")
        items.append(
            SubscriptionItem(
                subscription_id=str(raw["subscription_id"]),
                plan_code=str(raw["plan_code"]),
                period=str(raw.get("period", "")),
                access_until=until,
            )
        )
    return tuple(items)


class ActiveSubscriptionsClient:
    """Thread-safe, synchronous. One instance per Auth process; share ``cache`` across replicas with
    :class:`~kinobill.auth_client.cache.RedisCache`, or keep the default in-process LRU."""

    def __init__(
        self,
        base_url: str,
        service_token: str,
        *,
        timeout: float = 0.5,
        retries: int = 2,
        deadline: float = 1.0,
        backoff: float = 0.05,
        cache: SubscriptionCache | None = None,
        ttl: float = 60.0,
        stale_ttl: float = 3600.0,
        max_claim_entries: int = DEFAULT_MAX_CLAIM_ENTRIES,
        clock: Callable[[], float] = time.time,
        http_client: httpx.Client | None = None,
    ) -> None:
        if retries < 0 or timeout <= 0 or deadline <= 0 or ttl < 0 or stale_ttl < 0:
            raise ValueError("timeout and deadline must be positive; retries, ttl, stale_ttl not negative")
        self.timeout = timeout
        self.retries = retries
        self.deadline = deadline
        self.backoff = backoff
        self.ttl = ttl
        self.stale_ttl = stale_ttl
        self.max_claim_entries = max_claim_entries
        self.cache: SubscriptionCache = cache if cache is not None else InProcessCache(clock=clock)
        self.stats = ClientStats()
        self._clock = clock
        self._own_http = http_client is None
        self._http = http_client or httpx.Client(base_url=base_url, timeout=timeout)
        self._auth = {"Authorization": f"Bearer {service_token}"}
        # bumped by invalidate(): a fetch that overlapped an invalidation must not cache as fresh
        self._generation = 0
        self._generation_lock = threading.Lock()

    # -- public API -----------------------------------------------------------------------------

    def get(self, user_id: str | uuid.UUID) -> ActiveSubscriptions:
        uid = _normalise_user_id(user_id)
        entry = self._cache_get(uid)
        if entry is not None and entry.is_fresh(self._clock()):
            self.stats.hits += 1
            return self._answer(uid, entry, stale=False)
        generation = self._generation
        try:
            new = self._refresh(uid, entry)
        except _Unavailable as exc:
            if entry is not None:
                self.stats.stale_served += 1
                log.warning("Subscriptions unavailable (%s); serving stale answer for %s", exc, uid)
                return self._answer(uid, entry, stale=True)
            self.stats.unavailable += 1
            raise SubscriptionsUnavailable(f"Subscriptions unavailable and nothing cached: {exc}") from exc
        if self._generation != generation:
            new = new.expired()  # a change landed while we asked: keep it only as a fallback
        self._cache_set(uid, new)
        return self._answer(uid, new, stale=False)

    def claim_for(self, user_id: str | uuid.UUID, *, now: datetime | float | None = None) -> dict[str, str]:
        """The claim dict to merge into Auth's JWT payload (see :meth:`ActiveSubscriptions.claim`)."""
        return self.get(user_id).claim(now=now, max_entries=self.max_claim_entries)

    def invalidate(self, user_id: str | uuid.UUID) -> None:
        """Forget the user's answer: the next ``get`` asks Subscriptions.

        The entry is deleted rather than merely expired: after a change the old answer is known wrong,
        so it should neither be revalidated (its ETag can't match) nor served as a stale fallback.
        """
        uid = _normalise_user_id(user_id)
        with self._generation_lock:
            self._generation += 1
        self.stats.invalidations += 1
        self.cache.delete(uid)

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def __enter__(self) -> ActiveSubscriptionsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------------

    def _answer(self, uid: str, entry: CacheEntry, *, stale: bool) -> ActiveSubscriptions:
        return ActiveSubscriptions(
            user_id=uid,
            items=parse_body(uid, entry.body),
            etag=entry.etag,
            fetched_at=entry.fetched_at,
            stale=stale,
        )

    def _cache_get(self, uid: str) -> CacheEntry | None:
        try:
            return self.cache.get(uid)
        except Exception:  # a broken cache (Redis down) must not break token issuance
            self.stats.cache_errors += 1
            log.exception("subscription cache read failed for %s", uid)
            return None

    def _cache_set(self, uid: str, entry: CacheEntry) -> None:
        try:
            self.cache.set(uid, entry)
        except Exception:
            self.stats.cache_errors += 1
            log.exception("subscription cache write failed for %s", uid)

    def _refresh(self, uid: str, entry: CacheEntry | None) -> CacheEntry:
        status, body, etag = self._fetch(uid, entry.etag if entry is not None else None)
        now = self._clock()
        if status == 304:
            if entry is None:
                raise _Unavailable("304 to a request without If-None-Match")
            self.stats.revalidated += 1
            return entry.refreshed(now, self.ttl, self.stale_ttl)
        try:
            parse_body(uid, body)
        except (ValueError, KeyError, TypeError) as exc:
            raise _Unavailable(f"malformed 200 body: {exc}") from exc
        self.stats.fetched += 1
        return CacheEntry(
            body=body,
            etag=etag,
            fetched_at=now,
            fresh_until=now + self.ttl,
            keep_until=now + self.ttl + self.stale_ttl,
        )

    def _fetch(self, uid: str, etag: str | None) -> tuple[int, str, str | None]:
        headers = dict(self._auth)
        if etag:
            headers["If-None-Match"] = etag
        started = time.monotonic()
        retrying = Retrying(
            stop=stop_after_attempt(self.retries + 1) | stop_before_delay(self.deadline),
            wait=wait_exponential_jitter(initial=self.backoff, max=self.backoff * 4, jitter=self.backoff),
            retry=retry_if_exception_type(_Retryable),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                remaining = self.deadline - (time.monotonic() - started)
                return self._attempt(uid, headers, min(self.timeout, max(remaining, 0.001)))
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    def _attempt(self, uid: str, headers: dict[str, str], timeout: float) -> tuple[int, str, str | None]:
        try:
            response = self._http.get(PATH.format(user_id=uid), headers=headers, timeout=timeout)
        except httpx.TransportError as exc:  # connect/read/write errors and timeouts
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status in (200, 304):
            return status, response.text, response.headers.get("etag")
        if status >= 500:
            raise _Retryable(f"HTTP {status}")
        if status == 429:
            raise _Unavailable("HTTP 429")  # Subscriptions sheds load: don't add to it
        code, message = "http_error", response.text[:200]
        try:
            err = response.json()["error"]
            code, message = str(err["code"]), str(err["message"])
        except (ValueError, KeyError, TypeError):
            pass
        raise SubscriptionsRequestError(status, code, message)


__all__ = [
    "DEFAULT_MAX_CLAIM_ENTRIES",
    "ActiveSubscriptions",
    "ActiveSubscriptionsClient",
    "ClientStats",
    "SubscriptionItem",
    "SubscriptionsError",
    "SubscriptionsRequestError",
    "SubscriptionsUnavailable",
    "parse_body",
]
