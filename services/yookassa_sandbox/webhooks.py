"""Asynchronous delivery of HTTP notifications ``{type: "notification", event, object}``.

Each notification is POSTed to the configured URL as a background task of the server's event loop.
Any answer other than HTTP 200 (or a connection error/timeout) is retried along ``RETRY_SCHEDULE``
until 24 hours after the event; ``webhook_retry_scale`` multiplies every delay and the window
(0.001 turns 24 h into 86.4 s).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from .config import Settings
from .faults import Fault, Faults

# seconds after the previous attempt; the last interval repeats until the window closes
RETRY_SCHEDULE = (10, 30, 60, 300, 600, 1800, 3600, 7200, 14400)


@dataclass
class Delivery:
    id: str
    notification_id: str
    event: str
    object_id: str
    body: bytes
    created: float
    status: str = "pending"  # pending | delivered | failed | dropped | held | not_configured
    fault: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "notification_id": self.notification_id,
            "event": self.event,
            "object_id": self.object_id,
            "status": self.status,
            "fault": self.fault,
            "created": self.created,
            "attempts": list(self.attempts),
        }


class WebhookDispatcher:
    def __init__(self, settings: Settings, faults: Faults) -> None:
        self.settings = settings
        self.faults = faults
        self.deliveries: list[Delivery] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.client: httpx.AsyncClient | None = None
        self._ids = itertools.count(1)

    async def start(self) -> None:
        self.client = httpx.AsyncClient(verify=False, timeout=self.settings.webhook_timeout)

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.client is not None:
            await self.client.aclose()

    def reset(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        self.tasks.clear()
        self.deliveries = []

    # called synchronously by the store at the moment of the event
    def notify(self, event: str, obj: dict[str, Any]) -> None:
        nid = f"n{next(self._ids)}"
        body = json.dumps(
            {"type": "notification", "event": event, "object": obj}, ensure_ascii=False
        ).encode()
        now = time.time()
        if not self.settings.webhook_url:
            self._new(nid, event, obj["id"], body, now, status="not_configured")
            return
        fault = self.faults.take_webhook(event) if self.faults else None
        if fault is None:
            self._launch(self._new(nid, event, obj["id"], body, now))
            return
        kind = fault.kind
        if kind == "webhook_drop":
            self._new(nid, event, obj["id"], body, now, status="dropped", fault=kind)
        elif kind == "webhook_duplicate":
            for _ in range(fault.copies):
                self._launch(self._new(nid, event, obj["id"], body, now, fault=kind))
        elif kind == "webhook_delay":
            self._launch(self._new(nid, event, obj["id"], body, now, fault=kind), fault.latency_ms / 1000)
        elif kind == "webhook_reorder":
            fault.held.append(self._new(nid, event, obj["id"], body, now, status="held", fault=kind))
            fault.used += 1
            if fault.count is not None and fault.used >= fault.count:
                self.release(fault)

    def release(self, fault: Fault) -> None:
        """Deliver what a reorder fault holds, newest first, and retire the fault."""
        if fault in self.faults.active:
            self.faults.active.remove(fault)
        held, fault.held = fault.held, []
        for delivery in held:
            delivery.status = "pending"
        task = asyncio.get_running_loop().create_task(self._deliver_in_order(list(reversed(held))))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver_in_order(self, deliveries: list[Delivery]) -> None:
        # first attempts strictly one after another, so the receiver sees exactly this order
        for delivery in deliveries:
            if not await self._attempt(delivery):
                self._launch(delivery, retry_from=1)

    def _new(
        self,
        nid: str,
        event: str,
        object_id: str,
        body: bytes,
        now: float,
        status: str = "pending",
        fault: str | None = None,
    ) -> Delivery:
        delivery = Delivery(f"d{next(self._ids)}", nid, event, object_id, body, now, status, fault)
        self.deliveries.append(delivery)
        return delivery

    def _launch(self, delivery: Delivery, delay: float = 0.0, retry_from: int = 0) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(delivery, delay, retry_from))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _attempt(self, delivery: Delivery) -> bool:
        url = self.settings.webhook_url
        result: dict[str, Any] = {"time": time.time(), "url": url}
        ok = False
        if url and self.client is not None:
            try:
                resp = await self.client.post(
                    url, content=delivery.body, headers={"Content-Type": "application/json"}
                )
                result["http_status"] = resp.status_code
                ok = resp.status_code == 200
            except (httpx.HTTPError, OSError) as exc:
                result["error"] = f"{type(exc).__name__}: {exc}"
        else:
            result["error"] = "no webhook URL configured"
        delivery.attempts.append(result)
        if ok:
            delivery.status = "delivered"
        return ok

    async def _deliver(self, delivery: Delivery, delay: float, retry_from: int = 0) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        retry = retry_from
        if retry == 0 and await self._attempt(delivery):
            return
        while True:
            scale = self.settings.webhook_retry_scale
            wait = RETRY_SCHEDULE[min(retry, len(RETRY_SCHEDULE) - 1)] * scale
            retry += 1
            if time.time() + wait - delivery.created > self.settings.webhook_retry_window * scale:
                delivery.status = "failed"
                return
            await asyncio.sleep(wait)
            if await self._attempt(delivery):
                return
