"""Request size limits, checked before a body is read: 431 for oversized headers, 413 for bodies.

A plain ASGI middleware in front of every route. The headers (already parsed by the server) are
measured first; a declared Content-Length over the limit is answered at once, without reading a byte
of the body; a body without a length (chunked) is counted as it streams in and cut off at the limit.
The webhook path gets a larger limit than the JSON APIs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kinobill.config import Settings

KIB = 1024


@dataclass(frozen=True)
class RequestLimits:
    max_body_bytes: int = 64 * KIB
    max_webhook_body_bytes: int = 1024 * KIB
    max_header_bytes: int = 16 * KIB
    webhook_prefix: str = "/webhooks/"

    def body_limit(self, path: str) -> int:
        return self.max_webhook_body_bytes if path.startswith(self.webhook_prefix) else self.max_body_bytes


def request_limits(settings: Settings) -> RequestLimits:
    return RequestLimits(
        max_body_bytes=settings.max_body_bytes,
        max_webhook_body_bytes=settings.max_webhook_body_bytes,
        max_header_bytes=settings.max_header_bytes,
    )


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


async def _answer(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestLimitsMiddleware:
    def __init__(self, app: ASGIApp, limits: RequestLimits | None = None) -> None:
        self.app = app
        self.limits = limits or RequestLimits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", ())
        header_bytes = sum(len(name) + len(value) + 4 for name, value in headers)
        if header_bytes > self.limits.max_header_bytes:
            await _answer(
                send,
                431,
                "headers_too_large",
                f"the request headers are larger than {self.limits.max_header_bytes} bytes",
            )
            return
        limit = self.limits.body_limit(scope.get("path", ""))
        for name, value in headers:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _answer(send, 400, "bad_request", "Content-Length is not a number")
                    return
                if declared > limit:
                    await _answer(
                        send, 413, "body_too_large", f"the request body is larger than {limit} bytes"
                    )
                    return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted_receive, send)
