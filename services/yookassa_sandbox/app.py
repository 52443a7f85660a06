"""The ASGI application: a lean hand-written handler for the ``/v3`` API (the hot path) in front of a
Starlette router for the checkout page and the ``/sandbox`` test-helper API.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette

from . import checkout, control, receipts
from .config import Settings
from .errors import ApiError, error_body
from .faults import Fault, Faults
from .store import IdempotencyEntry, Store
from .webhooks import WebhookDispatcher

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_KEY_RE = re.compile(r"[0-9a-zA-Z+-_.]{1,64}")  # the pattern of the official spec, verbatim
_JSON_HEADERS = [(b"content-type", b"application/json")]


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


class Sandbox:
    """State shared by the API, the checkout page and the control API."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.faults = Faults()
        self.webhooks = WebhookDispatcher(settings, self.faults)
        self.store = Store(settings, self.webhooks.notify, self.faults)
        self.idempotency: dict[str, IdempotencyEntry] = {}
        self.journal: deque[dict[str, Any]] = deque(maxlen=settings.journal_max)
        self.journal_seq = 0
        creds = f"{settings.shop_id}:{settings.secret_key}".encode()
        self.expected_auth = b"Basic " + base64.b64encode(creds)
        self._sweeper: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()

    def reset(self) -> None:
        self.store.reset()
        self.faults.clear()
        self.webhooks.reset()
        self.idempotency.clear()
        self.journal.clear()
        self.journal_seq = 0

    async def start(self) -> None:
        receipts.load_schema()
        await self.webhooks.start()
        self.wake = asyncio.Event()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self.webhooks.stop()

    async def _sweep(self) -> None:
        """Cancel expired payments at their deadline (so the webhook fires without anyone polling)."""
        while True:
            self.store.expire_due()
            deadline = self.store.next_deadline()
            wait = 1.0 if deadline is None else min(1.0, max(0.005, deadline - self.store.now()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), wait)
            self.wake.clear()

    def record(
        self,
        method: str,
        path: str,
        operation: str | None,
        key: str | None,
        status: int | None,
        object_id: str | None,
        replayed: bool = False,
        fault: str | None = None,
    ) -> None:
        self.journal_seq += 1
        self.journal.append(
            {
                "seq": self.journal_seq,
                "time": time.time(),
                "method": method,
                "path": path,
                "operation": operation,
                "idempotence_key": key,
                "http_status": status,
                "object_id": object_id,
                "replayed": replayed,
                "fault": fault,
            }
        )


class SandboxApp:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sandbox = Sandbox(settings)
        routes = control.routes(self.sandbox) + checkout.routes(self.sandbox)
        self.router = Starlette(routes=routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if scope["path"].startswith("/v3/"):
                await self.api(scope, receive, send)
            else:
                await self.router(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.sandbox.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.sandbox.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # ------------------------------------------------------------------------------------------ /v3
    @staticmethod
    async def _respond(
        send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        if extra:
            headers.extend(extra)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _route(self, method: str, path: str) -> tuple[str | None, str | None, bool]:
        """(operation, path argument, method_allowed)."""
        parts = path[4:].split("/")
        n = len(parts)
        head = parts[0]
        if head == "payments":
            if n == 1:
                return (
                    ("payments.create" if method == "POST" else "payments.list"),
                    None,
                    method in ("GET", "POST"),
                )
            if n == 2 and parts[1]:
                return "payments.get", parts[1], method == "GET"
            if n == 3 and parts[2] in ("capture", "cancel"):
                return f"payments.{parts[2]}", parts[1], method == "POST"
        elif head == "refunds":
            if n == 1:
                return (
                    ("refunds.create" if method == "POST" else "refunds.list"),
                    None,
                    method in ("GET", "POST"),
                )
            if n == 2 and parts[1]:
                return "refunds.get", parts[1], method == "GET"
        elif head == "me" and n == 1:
            return "me.get", None, method == "GET"
        elif head == "payment_methods":
            if n == 1:
                return "payment_methods.create", None, method == "POST"
            if n == 2 and parts[1]:
                return "payment_methods.get", parts[1], method == "GET"
        return None, None, False

    def _operate(self, operation: str, arg: str | None, body: Any, query: bytes) -> dict[str, Any]:
        store = self.sandbox.store
        if operation == "payments.create":
            return store.create_payment(body)
        if operation == "payments.get":
            store.expire_due()
            return store.get_payment(arg or "")
        if operation == "payments.capture":
            return store.capture_payment(arg or "", body)
        if operation == "payments.cancel":
            return store.cancel_payment(arg or "")
        if operation == "payments.list":
            return store.list_payments(dict(parse_qsl(query.decode())))
        if operation == "refunds.create":
            return store.create_refund(body)
        if operation == "refunds.get":
            return store.get_refund(arg or "")
        if operation == "refunds.list":
            return store.list_refunds(dict(parse_qsl(query.decode())))
        if operation == "payment_methods.create":
            return store.create_payment_method(body)
        if operation == "payment_methods.get":
            return store.get_payment_method(arg or "")
        fiscal = self.settings.fiscalization
        me = {
            "account_id": self.settings.shop_id,
            "test": self.settings.test,
            "fiscalization_enabled": fiscal,
            "payment_methods": ["bank_card"],
            "status": "enabled",
        }
        if fiscal:  # absent while the shop never turned receipts on
            me["fiscalization"] = {"enabled": True, "provider": "avanpost"}
        return me

    async def api(self, scope: Scope, receive: Receive, send: Send) -> None:
        sandbox = self.sandbox
        method: str = scope["method"]
        path: str = scope["path"]
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        auth = key_raw = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value
            elif name == b"idempotence-key":
                key_raw = value
        key = key_raw.decode("latin-1") if key_raw is not None else None
        operation, arg, allowed = self._route(method, path)

        if auth != sandbox.expected_auth and not self._auth_ok(auth):
            body = error_body(
                "invalid_credentials", "Authentication by given credentials failed", "Authorization"
            )
            sandbox.record(method, path, operation, key, 401, None)
            return await self._respond(send, 401, _dumps(body))
        if operation is None:
            sandbox.record(method, path, None, key, 404, None)
            return await self._respond(send, 404, _dumps(error_body("not_found", f"Path {path} not found")))
        if not allowed:
            sandbox.record(method, path, operation, key, 405, None)
            body = error_body("invalid_request", f"Method {method} is not allowed for {path}")
            return await self._respond(send, 405, _dumps(body))

        is_post = method == "POST"
        if is_post:
            problem = None
            if not key:
                problem = "Idempotence key is empty: the Idempotence-Key header is required"
            elif len(key) > 64:
                problem = "Idempotence key is too long. Maximum length is 64 characters"
            elif not _KEY_RE.fullmatch(key):
                problem = "Idempotence key contains invalid characters"
            if problem:
                sandbox.record(method, path, operation, key, 400, None)
                body = error_body("invalid_request", problem, "Idempotence-Key")
                return await self._respond(send, 400, _dumps(body))

        fault: Fault | None = sandbox.faults.take_api(operation) if sandbox.faults else None
        fkind = fault.kind if fault else None
        if fault is not None:
            early = await self._fault_before(fault, scope, receive, send, method, path, operation, key)
            if early:
                return

        parsed: Any = {}
        replayed = False
        entry = None
        if is_post and key is not None:
            entry = sandbox.idempotency.get(key)
            if entry is not None and sandbox.store.now() - entry.ts > self.settings.idempotence_ttl:
                del sandbox.idempotency[key]
                entry = None
        if entry is not None:
            if entry.method != method or entry.path != path or not self._same_body(entry, raw):
                sandbox.record(method, path, operation, key, 400, None, fault=fkind)
                body = error_body(
                    "invalid_request",
                    "Idempotence key duplicated: the key was already used for another request "
                    "in the last 24 hours",
                    "Idempotence-Key",
                )
                return await self._respond(send, 400, _dumps(body))
            status, payload, object_id, replayed = entry.status, entry.response, entry.object_id, True
        else:
            object_id = None
            try:
                if raw.strip():
                    try:
                        parsed = json.loads(raw)
                    except ValueError:
                        raise ApiError(400, "Request body is not valid JSON") from None
                    if not isinstance(parsed, dict):
                        raise ApiError(400, "Request body must be a JSON object")
                obj = self._operate(operation, arg, parsed, scope["query_string"])
                status = 200
                object_id = obj.get("id")
                payload = _dumps(obj)
            except ApiError as exc:
                status, payload = exc.status, _dumps(exc.body())
                object_id = arg
            if is_post and key is not None:
                sandbox.idempotency[key] = IdempotencyEntry(
                    method, path, raw, parsed, status, payload, object_id, sandbox.store.now()
                )
        if fault is not None and fkind in ("error_after_commit", "drop_after_commit", "hang"):
            await self._fault_after(fault, receive, send, method, path, operation, key, object_id)
            return
        sandbox.record(method, path, operation, key, status, object_id, replayed, fkind)
        await self._respond(send, status, payload)

    @staticmethod
    def _same_body(entry: IdempotencyEntry, raw: bytes) -> bool:
        if entry.raw == raw:
            return True
        try:
            parsed = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return False
        return bool(parsed == entry.parsed)

    def _auth_ok(self, auth: bytes | None) -> bool:
        if not auth or auth[:6].lower() != b"basic ":
            return False
        try:
            user, _, password = base64.b64decode(auth[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == self.settings.shop_id and password == self.settings.secret_key

    async def _fault_before(
        self,
        fault: Fault,
        scope: Scope,
        receive: Receive,
        send: Send,
        method: str,
        path: str,
        operation: str,
        key: str | None,
    ) -> bool:
        """Apply the part of a fault that comes before the operation; True if the request is finished."""
        sandbox = self.sandbox
        kind = fault.kind
        if kind == "latency":
            await asyncio.sleep(fault.latency_ms / 1000)
            return False
        if kind == "hang" and not fault.commit:
            sandbox.record(method, path, operation, key, None, None, fault=kind)
            await self._wait_disconnect(receive)
            return True
        if kind == "error_before_commit":
            sandbox.record(method, path, operation, key, 500, None, fault=kind)
            body = error_body("internal_server_error", "Internal server error. Repeat the request later")
            await self._respond(send, 500, _dumps(body))
            return True
        if kind == "drop_before_commit":
            sandbox.record(method, path, operation, key, None, None, fault=kind)
            await self._drop(receive, send)
            return True
        if kind == "too_many_requests":
            sandbox.record(method, path, operation, key, 429, None, fault=kind)
            body = error_body(
                "too_many_requests", "Too many requests. Repeat later", retry_after=fault.retry_after * 1000
            )
            await self._respond(send, 429, _dumps(body), [(b"retry-after", str(fault.retry_after).encode())])
            return True
        if kind == "processing":
            sandbox.record(method, path, operation, key, 202, None, fault=kind)
            body = {
                "type": "processing",
                "description": "Request accepted, but not processed yet. "
                "Retry again with the same Idempotence-Key",
                "retry_after": fault.retry_after * 1000,
            }
            await self._respond(send, 202, _dumps(body), [(b"retry-after", str(fault.retry_after).encode())])
            return True
        return False

    async def _fault_after(
        self,
        fault: Fault,
        receive: Receive,
        send: Send,
        method: str,
        path: str,
        operation: str,
        key: str | None,
        object_id: str | None,
    ) -> None:
        kind = fault.kind
        if kind == "error_after_commit":
            self.sandbox.record(method, path, operation, key, 500, object_id, fault=kind)
            body = error_body("internal_server_error", "Internal server error. Repeat the request later")
            await self._respond(send, 500, _dumps(body))
        elif kind == "drop_after_commit":
            self.sandbox.record(method, path, operation, key, None, object_id, fault=kind)
            await self._drop(receive, send)
        else:  # hang after commit
            self.sandbox.record(method, path, operation, key, None, object_id, fault=kind)
            await self._wait_disconnect(receive)

    @staticmethod
    async def _wait_disconnect(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    @staticmethod
    async def _drop(receive: Receive, send: Send) -> None:
        """Close the TCP connection without sending a single byte of response."""
        cycle = getattr(receive, "__self__", None)
        transport = getattr(cycle, "transport", None)
        if transport is not None:
            transport.abort()
            for _ in range(3):
                await asyncio.sleep(0)
            return
        # unknown server: start a response and never finish it, the server then closes the connection
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})


def create_app(settings: Settings | None = None) -> SandboxApp:
    return SandboxApp(settings or Settings.from_env())
