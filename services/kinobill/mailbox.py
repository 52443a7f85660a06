"""SMTP capture for local runs and tests: SMTP on 1025, a JSON inbox on 8025.

`GET /api/messages` lists captured mail (to, subject, body (the plain text), html (the HTML part or
null), raw (the delivered bytes, latin-1), message_id); `DELETE /api/messages` clears it.
Every delivery is kept, duplicates included, so tests can count them; the senders deliver at least
once with a stable Message-ID per e-mail (see kinobill.mail), which is what a mail client dedupes on.
"""

from __future__ import annotations

import email
import email.policy
import threading
from datetime import UTC, datetime
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


class Inbox:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []

    def add(self, envelope_to: list[str], raw: bytes) -> None:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        body_part = msg.get_body(preferencelist=("plain", "html")) if msg.is_multipart() else msg
        body = body_part.get_content() if body_part is not None else ""
        html_part = msg.get_body(preferencelist=("html",)) if msg.is_multipart() else None
        message_id = str(msg.get("Message-ID", ""))
        with self._lock:
            self._messages.append(
                {
                    "id": len(self._messages) + 1,
                    "message_id": message_id,
                    "from": str(msg.get("From", "")),
                    "to": list(envelope_to),
                    "subject": str(msg.get("Subject", "")),
                    "body": body,
                    "html": html_part.get_content() if html_part is not None else None,
                    "raw": raw.decode("latin-1"),  # the bytes as delivered, one char per byte
                    "headers": {k: str(v) for k, v in msg.items()},
                    "received_at": datetime.now(UTC).isoformat(),
                }
            )

    def list(self, to: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self._messages if to is None or to in m["to"]]

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()


class _Handler:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.inbox.add(list(envelope.rcpt_tos), envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def inbox_app(inbox: Inbox) -> Starlette:
    async def messages(request: Request) -> JSONResponse:
        if request.method == "DELETE":
            inbox.clear()
            return JSONResponse({"deleted": True})
        items = inbox.list(request.query_params.get("to"))
        return JSONResponse({"items": items, "count": len(items)})

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[Route("/api/messages", messages, methods=["GET", "DELETE"]), Route("/healthz", healthz)]
    )


def serve(smtp_host: str = "127.0.0.1", smtp_port: int = 1025, http_port: int = 8025) -> None:
    inbox = Inbox()
    controller = Controller(_Handler(inbox), hostname=smtp_host, port=smtp_port)
    controller.start()
    try:
        uvicorn.run(inbox_app(inbox), host=smtp_host, port=http_port, log_level="warning")
    finally:
        controller.stop()
