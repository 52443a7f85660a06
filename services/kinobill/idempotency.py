"""Idempotency-Key handling, enforced by the database (docs/design.md):

* same scope and key, same body → the stored status and body are replayed;
* same key, another body → 422 `idempotency_key_reused`;
* while the first request still runs → 409 `request_in_progress`;
* kept at least 24 hours; a request that crashed mid-way releases its lock after `lock_ttl`,
  and a retry takes over (the operation behind it must itself be resumable by business keys).

Server errors (5xx) are not stored: the key is released so that a retry can try again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from kinobill.errors import ApplicationError, Conflict, InvalidRequest
from kinobill.unavailable import retry_once_if_unavailable

RETENTION = timedelta(hours=24)
LOCK_TTL = timedelta(seconds=60)


def request_fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any


class IdempotencyStore:
    def __init__(
        self, engine: sa.Engine, table: sa.Table, now: Callable[[], datetime], lock_ttl: timedelta = LOCK_TTL
    ) -> None:
        self.engine, self.table, self.now, self.lock_ttl = engine, table, now, lock_ttl

    def begin(self, scope: str, key: str, fingerprint: str) -> StoredResponse | None:
        """Claim the key. Returns a stored response to replay, None to go ahead, or raises 409/422."""
        return retry_once_if_unavailable(lambda: self._begin(scope, key, fingerprint), what="idempotency key")

    def _begin(self, scope: str, key: str, fingerprint: str) -> StoredResponse | None:
        t = self.table
        now = self.now()
        with self.engine.begin() as conn:
            inserted = conn.execute(
                insert(t)
                .values(
                    scope=scope,
                    key=key,
                    request_hash=fingerprint,
                    status="in_progress",
                    locked_until=now + self.lock_ttl,
                    expires_at=now + RETENTION,
                )
                .on_conflict_do_nothing()
                .returning(t.c.key)
            ).first()
            if inserted:
                return None
            row = conn.execute(sa.select(t).where(t.c.scope == scope, t.c.key == key).with_for_update()).one()
            if row.expires_at <= now:  # an expired record: start afresh
                conn.execute(
                    t.update()
                    .where(t.c.scope == scope, t.c.key == key)
                    .values(
                        request_hash=fingerprint,
                        status="in_progress",
                        response_status=None,
                        response_body=None,
                        locked_until=now + self.lock_ttl,
                        expires_at=now + RETENTION,
                    )
                )
                return None
            if row.request_hash != fingerprint:
                raise InvalidRequest(
                    "idempotency_key_reused",
                    "this Idempotency-Key was already used with a different request",
                )
            if row.status == "done":
                return StoredResponse(row.response_status, row.response_body)
            if row.locked_until > now:
                raise Conflict(
                    "request_in_progress",
                    "a request with this Idempotency-Key is still being processed; retry later",
                )
            # The first attempt died holding the lock: this retry takes over.
            conn.execute(
                t.update().where(t.c.scope == scope, t.c.key == key).values(locked_until=now + self.lock_ttl)
            )
            return None

    def complete(self, scope: str, key: str, status: int, body: Any) -> None:
        """Store the response (or release the key after a 5xx); retried once, so that a request that
        failed for a database failover does not leave its key locked for its retries."""
        retry_once_if_unavailable(lambda: self._complete(scope, key, status, body), what="idempotency key")

    def _complete(self, scope: str, key: str, status: int, body: Any) -> None:
        t = self.table
        with self.engine.begin() as conn:
            if status >= 500:
                conn.execute(t.delete().where(t.c.scope == scope, t.c.key == key))
            else:
                conn.execute(
                    t.update()
                    .where(t.c.scope == scope, t.c.key == key)
                    .values(status="done", response_status=status, response_body=body)
                )

    def run(
        self,
        scope: str,
        key: str,
        fingerprint: str,
        operation: Callable[[], tuple[int, Any]],
        refusal: Callable[[ApplicationError], tuple[int, Any]],
    ) -> StoredResponse:
        """Begin, run `operation` (returning status and JSON body), store and return its result. An
        application error is stored as the response `refusal` renders for it (and raised)."""
        stored = self.begin(scope, key, fingerprint)
        if stored is not None:
            return stored
        try:
            status, body = operation()
        except ApplicationError as exc:
            self.complete(scope, key, *refusal(exc))
            raise
        except BaseException:
            self.complete(scope, key, 500, None)
            raise
        self.complete(scope, key, status, body)
        return StoredResponse(status, body)

    def purge_expired(self) -> int:
        with self.engine.begin() as conn:
            return conn.execute(self.table.delete().where(self.table.c.expires_at < self.now())).rowcount
