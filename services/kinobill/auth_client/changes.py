"""Invalidate cached answers when Subscriptions publishes a change.

Subscriptions appends every change to the Redis Stream ``kinobill:subscriptions:changes`` with string
fields ``user_id``, ``subscription_id``, ``event`` and ``at``. :class:`ChangeListener` reads it in a
background thread and drops the affected user's cached answer, so the next token issued for that
user asks Subscriptions again (lazily: refreshing eagerly would fetch for users who may not log in
for hours, and the next ``get`` pays one ~ms request anyway).

Two ways to read, chosen by the caller:

* **fan-out (default, ``group=None``)**: plain ``XREAD`` from the stream's end as it was at
  :meth:`ChangeListener.start`. Use it with :class:`~kinobill.auth_client.cache.InProcessCache`: every
  Auth replica holds its own cache, so EVERY replica must see EVERY event, which is exactly what a
  consumer group would prevent (it hands each event to one consumer only). Events published while
  the process was down don't matter: its in-process cache started empty. The listener remembers the
  last id it applied, so a Redis hiccup resumes where it stopped rather than at ``$``.
* **consumer group (``group="auth-cache"``)**: ``XREADGROUP`` + ``XACK``. Use it with a shared
  :class:`~kinobill.auth_client.cache.RedisCache`: one deletion serves all replicas, so each event
  needs one consumer; the group survives restarts (events published while all replicas were down
  are still applied), failed events stay pending and are retried, and events left pending by a
  dead consumer are claimed after ``claim_idle_ms``. (Fan-out also works with a shared cache, it
  just deletes the same key once per replica.)

The blocking read lasts at most ``block_ms``, so :meth:`ChangeListener.stop` returns within about that.
The Redis client must not time out sooner (``socket_timeout`` None or > ``block_ms / 1000``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

import redis

log = logging.getLogger(__name__)

DEFAULT_STREAM = "kinobill:subscriptions:changes"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ChangeListener:
    """Background reader of the changes stream that invalidates ``target``'s entries.

    ``target`` is an :class:`~kinobill.auth_client.client.ActiveSubscriptionsClient` (its
    ``invalidate`` also guards against a fetch racing the change) or a bare cache (its ``delete``).
    """

    def __init__(
        self,
        redis_client: redis.Redis,
        target: Any,
        stream: str = DEFAULT_STREAM,
        *,
        group: str | None = None,
        consumer: str | None = None,
        block_ms: int = 500,
        count: int = 100,
        claim_idle_ms: int = 30_000,
    ) -> None:
        if block_ms <= 0:
            raise ValueError("block_ms must be positive: XREAD BLOCK 0 would block forever")
        invalidate = getattr(target, "invalidate", None) or getattr(target, "delete", None)
        if not callable(invalidate):
            raise TypeError("target needs an invalidate(user_id) or delete(user_id) method")
        self._invalidate = invalidate
        self._redis: Any = redis_client  # redis-py's stubs type replies as unions of everything
        self.stream = stream
        self.group = group
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.block_ms = block_ms
        self.count = count
        self.claim_idle_ms = claim_idle_ms
        self.last_id: str | None = None
        self.applied = 0
        self.skipped = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._check_pending = True
        self._last_claim = 0.0

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> ChangeListener:
        """Fix the starting position NOW (so events added after ``start`` returns are seen), then read
        in a daemon thread."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self.prepare()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"kinobill-changes-{self.stream}", daemon=True)
        self._thread.start()
        return self

    def prepare(self) -> None:
        """Resolve the position (fan-out) or create the group (group mode). Idempotent."""
        if self.group is None:
            if self.last_id is None:
                newest = self._redis.xrevrange(self.stream, count=1)
                self.last_id = _text(newest[0][0]) if newest else "0-0"
        else:
            try:
                self._redis.xgroup_create(self.stream, self.group, id="$", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def stop(self, timeout: float | None = None) -> None:
        """Ask the thread to stop and wait for it (at most ``block_ms`` plus one batch)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self.block_ms / 1000 + 5)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> ChangeListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                self.run_once()
                backoff = 0.1
            except Exception:  # Redis down, or the cache behind invalidate() down: retry, never die
                self.errors += 1
                log.warning("reading %s failed; retrying in %.1fs", self.stream, backoff, exc_info=True)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    # -- one round ------------------------------------------------------------------------------

    def run_once(self) -> int:
        """Read one batch (blocking up to ``block_ms``) and apply it; returns events applied."""
        if self.group is None:
            return self._fan_out_round()
        return self._group_round()

    def _fan_out_round(self) -> int:
        if self.last_id is None:
            self.prepare()
        assert self.last_id is not None
        reply = self._redis.xread({self.stream: self.last_id}, count=self.count, block=self.block_ms)
        applied = 0
        for _stream, messages in reply or []:
            for msg_id, fields in messages:
                self._apply(fields)  # raises: last_id stays before this event, the batch is re-read
                self.last_id = _text(msg_id)
                applied += 1
        return applied

    def _group_round(self) -> int:
        assert self.group is not None
        applied = self._claim_abandoned()
        # own pending first (after a restart with the same consumer name, or after a failed apply)
        if self._check_pending:
            pending = self._read_group("0", block=None)
            if pending:
                return applied + self._apply_and_ack(pending)
            self._check_pending = False
        return applied + self._apply_and_ack(self._read_group(">", block=self.block_ms))

    def _read_group(self, start: str, *, block: int | None) -> list[Any]:
        reply = self._redis.xreadgroup(
            self.group, self.consumer, {self.stream: start}, count=self.count, block=block
        )
        return [m for _stream, batch in (reply or []) for m in batch]

    def _claim_abandoned(self) -> int:
        now = time.monotonic()
        if now - self._last_claim < self.claim_idle_ms / 1000:
            return 0
        self._last_claim = now
        assert self.group is not None
        reply = self._redis.xautoclaim(
            self.stream, self.group, self.consumer, min_idle_time=self.claim_idle_ms, count=self.count
        )
        messages = reply[1] if reply and len(reply) > 1 else []
        return self._apply_and_ack(messages)

    def _apply_and_ack(self, messages: list[Any]) -> int:
        applied = 0
        for msg_id, fields in messages:
            if fields is None:  # deleted from the stream while pending
                self._redis.xack(self.stream, self.group, msg_id)
                continue
            try:
                self._apply(fields)
            except Exception:
                self._check_pending = True  # stays pending; re-read from "0" next round
                raise
            self._redis.xack(self.stream, self.group, msg_id)
            applied += 1
        return applied

    def _apply(self, fields: dict[Any, Any]) -> None:
        data = {_text(k): _text(v) for k, v in fields.items()}
        user_id = data.get("user_id", "")
        try:
            uuid.UUID(user_id)
        except ValueError:
            self.skipped += 1
            log.error("change event without a valid user_id, skipped: %r", data)
            return
        self._invalidate(user_id)
        self.applied += 1
        log.debug("invalidated %s after %s of %s", user_id, data.get("event"), data.get("subscription_id"))
