"""Redis Streams consumer groups: at-least-once delivery to idempotent handlers.

On start a consumer re-reads its own pending entries (a restart after a crash), then new ones ('>').
Entries idle longer than `claim_idle_ms` (a dead consumer's, or a failed one of its own: that idle time
is the retry back-off) are taken over with XAUTOCLAIM. An entry
whose handler failed `max_deliveries` times goes to `<stream>:dead` with the error and is acknowledged, so one
poison message cannot block the rest.

With a ``batch_handler`` the entries of one read are handed over together (one transaction for the lot,
in the handler) and acknowledged with one XACK after it returns; if the batch fails for any reason, the
entries are handled one by one with ``handler``, so a poison message is isolated, retried and
dead-lettered exactly as without batching, and the others are applied (once: handlers are idempotent).

Faults of the infrastructure are not the message's (``kinobill.transient``): a handler that meets a
database that is down or read-only, or Redis/Billing not answering, stops the poll, leaves its entries
pending and backs off (doubling up to ``MAX_BACKOFF``); only the message's own failures count toward
``max_deliveries`` (a per-entry counter in ``<stream>:failures:<group>``, not Redis' delivery count, which
also counts redeliveries after a crash or a transient failure).

Redis losing its data (FLUSHALL, a restart without its volume, a failover to an empty replica) removes
the consumer groups: the next read answers NOGROUP, and the consumer recreates its group (MKSTREAM) and
goes on. Every completed poll is a heartbeat; ``stalled_consumers`` names those that have not completed
one for longer than a bound, which fails the worker's ``/healthz``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from prometheus_client import Counter, Gauge

from kinobill.events import DEAD_LETTER_SUFFIX
from kinobill.logs import request_id
from kinobill.transient import is_transient

log = logging.getLogger(__name__)

STREAM_HANDLED = Counter("kinobill_stream_messages_total", "Stream messages handled", ["stream", "outcome"])
STREAM_PENDING = Gauge(
    "kinobill_stream_pending", "Entries delivered but not acknowledged", ["stream", "group"]
)
STREAM_POLL_AGE = Gauge(
    "kinobill_stream_last_poll_age_seconds",
    "Seconds since the consumer last completed a poll (stuck or Redis unreachable when high)",
    ["stream", "group"],
)
STREAM_GROUP_RECREATED = Counter(
    "kinobill_stream_group_recreated_total", "Consumer groups recreated after Redis lost them", ["stream"]
)
STREAM_DEAD_LETTERS = Gauge("kinobill_stream_dead_letters", "Entries in the dead-letter stream", ["stream"])
MAX_BACKOFF = 30.0
CONSUMERS: list[StreamConsumer] = []  # every consumer of this process, for the health check


class TransientFailure(Exception):
    """The infrastructure failed under a handler: retry the poll later, count nothing against the entry."""


def stalled_consumers(max_age: float) -> list[str]:
    """The consumers of this process that have not completed a poll for longer than `max_age` seconds."""
    return [f"{c.stream}/{c.group}" for c in CONSUMERS if c.poll_age() > max_age]


Handler = Callable[[dict[str, Any]], object]
BatchHandler = Callable[[list[dict[str, Any]]], object]


def decode_payload(fields: dict[bytes, bytes]) -> dict[str, Any]:
    raw = fields.get(b"payload")
    if raw is not None:
        return dict(json.loads(raw))
    return {k.decode(): v.decode() for k, v in fields.items()}


class StreamConsumer:
    def __init__(
        self,
        client: redis.Redis,
        stream: str,
        group: str,
        consumer: str,
        handler: Handler,
        *,
        batch: int = 50,
        block_ms: int = 500,
        claim_idle_ms: int = 30_000,
        max_deliveries: int = 5,
        crash_point: Callable[[str], None] = lambda _: None,
        batch_handler: BatchHandler | None = None,
        max_backoff: float = MAX_BACKOFF,
    ) -> None:
        self.max_backoff = max_backoff
        self.redis, self.stream, self.group, self.consumer = client, stream, group, consumer
        self.handler, self.batch_handler = handler, batch_handler
        self.batch, self.block_ms = batch, block_ms
        self.claim_idle_ms, self.max_deliveries = claim_idle_ms, max_deliveries
        self.crash_point = crash_point
        self._last_claim = 0.0
        self._recovered = False
        self._last_poll = time.monotonic()
        self._last_dead_count = 0.0
        self.failures_key = f"{stream}:failures:{group}"
        CONSUMERS.append(self)
        STREAM_POLL_AGE.labels(stream, group).set_function(self.poll_age)

    def poll_age(self) -> float:
        return time.monotonic() - self._last_poll

    def ensure_group(self) -> None:
        try:
            self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def poll_once(self) -> int:
        """Handle what is pending for this consumer, claimed from dead ones, or new. Returns the count."""
        handled = 0
        if not self._recovered:  # after a restart: our own unacknowledged entries first
            handled += self._read(pending=True)
            self._recovered = True
        if time.monotonic() - self._last_claim > max(1.0, self.claim_idle_ms / 2000):
            handled += self._claim_idle()
            self._last_claim = time.monotonic()
        if handled == 0:
            handled += self._read(pending=False)
        return handled

    def _read(self, *, pending: bool) -> int:
        response: Any = self.redis.xreadgroup(
            self.group,
            self.consumer,
            {self.stream: "0" if pending else ">"},
            count=self.batch,
            block=None if pending else self.block_ms,
        )
        live = []
        for _stream, entries in response or []:
            for entry_id, fields in entries:
                if fields is None:  # deleted while pending
                    self.redis.xack(self.stream, self.group, entry_id)
                    continue
                live.append((entry_id, fields))
        self._handle_all(live)
        return len(live)

    def _claim_idle(self) -> int:
        # Redis 6.2 answers [cursor, entries]; 7.0 adds a third element, the deleted ids.
        claimed = self.redis.xautoclaim(
            self.stream, self.group, self.consumer, self.claim_idle_ms, start_id="0-0", count=self.batch
        )[1]
        self._handle_all([(entry_id, fields) for entry_id, fields in claimed if fields is not None])
        return len(claimed)

    def _ack(self, entry_id: bytes) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(self.stream, self.group, entry_id)
        pipe.hdel(self.failures_key, entry_id)
        pipe.execute()

    def _handle_all(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        if self.batch_handler is None or len(entries) < 2:
            for entry_id, fields in entries:
                self._handle(entry_id, fields)
            return
        first = entries[0][0].decode()
        token = request_id.set(f"{self.stream}/{first}+{len(entries) - 1}")
        try:
            self.batch_handler([decode_payload(fields) for _id, fields in entries])
        except Exception as exc:
            if is_transient(exc):
                raise TransientFailure(repr(exc)) from exc
            log.warning("batch of %s failed; handling its entries one by one", len(entries), exc_info=True)
            STREAM_HANDLED.labels(self.stream, "batch_failed").inc()
            for entry_id, fields in entries:
                self._handle(entry_id, fields)
            return
        finally:
            request_id.reset(token)
        self.crash_point(f"consumer.{self.group}.before_ack")
        ids = [entry_id for entry_id, _fields in entries]
        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(self.stream, self.group, *ids)
        pipe.hdel(self.failures_key, *ids)
        pipe.execute()
        STREAM_HANDLED.labels(self.stream, "ok").inc(len(entries))

    def _handle(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        token = request_id.set(f"{self.stream}/{entry_id.decode()}")
        try:
            payload = decode_payload(fields)
            self.handler(payload)
            self.crash_point(f"consumer.{self.group}.before_ack")
            self._ack(entry_id)
            STREAM_HANDLED.labels(self.stream, "ok").inc()
        except Exception as exc:
            if is_transient(exc):
                STREAM_HANDLED.labels(self.stream, "transient").inc()
                raise TransientFailure(repr(exc)) from exc
            failures = int(self.redis.hincrby(self.failures_key, entry_id, 1))
            log.exception("stream handler failed (failure %s of %s)", failures, self.max_deliveries)
            if failures >= self.max_deliveries:
                dead = dict(fields)
                dead[b"error"] = repr(exc).encode()
                dead[b"source_id"] = entry_id
                dead[b"group"] = self.group.encode()
                self.redis.xadd(self.stream + DEAD_LETTER_SUFFIX, dead)  # type: ignore[arg-type]
                self._ack(entry_id)
                STREAM_HANDLED.labels(self.stream, "dead_lettered").inc()
            else:
                STREAM_HANDLED.labels(self.stream, "failed").inc()
        finally:
            request_id.reset(token)

    def _observe(self) -> None:
        summary = self.redis.xpending(self.stream, self.group)
        STREAM_PENDING.labels(self.stream, self.group).set(int(summary["pending"]))
        if time.monotonic() - self._last_dead_count > 10.0:
            STREAM_DEAD_LETTERS.labels(self.stream).set(
                int(self.redis.xlen(self.stream + DEAD_LETTER_SUFFIX))
            )
            self._last_dead_count = time.monotonic()

    def run(self, stop: threading.Event) -> None:
        backoff = 0.0
        while not stop.is_set():
            try:
                if backoff == 0.0:
                    self.ensure_group()  # at start, and after Redis came back from a failure
                self.poll_once()
                self._observe()
                self._last_poll = time.monotonic()
                backoff = -1.0
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    backoff = self._back_off(stop, backoff, "consumer loop failed", exc)
                    continue
                # Redis lost the stream or the group (data loss, trim, failover to an empty replica).
                log.warning("consumer group %s of %s is gone; recreating it", self.group, self.stream)
                STREAM_GROUP_RECREATED.labels(self.stream).inc()
                self._recovered = True  # nothing of ours is pending in a new group
                backoff = 0.0
            except (redis.ConnectionError, redis.TimeoutError, TransientFailure) as exc:
                self._recovered = False  # re-read our pending entries first when it is back
                backoff = self._back_off(stop, backoff, "infrastructure unavailable", exc)
            except Exception as exc:
                backoff = self._back_off(stop, backoff, "consumer loop failed", exc)

    def _back_off(self, stop: threading.Event, previous: float, what: str, exc: Exception) -> float:
        wait = min(self.max_backoff, max(0.5, previous * 2))
        log.warning("%s on %s (%r); retrying in %.1fs", what, self.stream, exc, wait)
        stop.wait(wait)
        return wait


DEAD_LETTER_FIELDS = (b"error", b"source_id", b"group")


def dead_letters(
    client: redis.Redis, stream: str, limit: int = 100
) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """The oldest entries of `stream`'s dead-letter stream, as (dead entry id, fields)."""
    return list(client.xrange(stream + DEAD_LETTER_SUFFIX, count=limit))  # type: ignore[arg-type]


def replay_dead_letters(client: redis.Redis, stream: str, limit: int = 100) -> int:
    """Put dead letters back on their stream (after the cause was fixed) for the consumers to handle
    again; handlers are idempotent, so a replay never applies anything twice. Returns how many."""
    replayed = 0
    for dead_id, fields in dead_letters(client, stream, limit):
        original = {k: v for k, v in fields.items() if k not in DEAD_LETTER_FIELDS}
        pipe = client.pipeline(transaction=True)
        pipe.xadd(stream, original)  # type: ignore[arg-type]
        pipe.xdel(stream + DEAD_LETTER_SUFFIX, dead_id)
        pipe.execute()
        replayed += 1
    if replayed:
        log.info("replayed %s dead letters onto %s", replayed, stream)
    return replayed
