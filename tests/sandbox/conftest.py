"""Fixtures: one real sandbox subprocess per session, a real webhook receiver, the SDK configured per test."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from yookassa import Configuration

from yookassa_sandbox.testing import SandboxHandle, run_sandbox

DEFAULT_SETTINGS = {
    "webhook_retry_scale": 0.001,
    "webhook_retry_window": 86400,
    "confirmation_ttl": 3600,
    "capture_ttl": 604800,
    "idempotence_ttl": 86400,
    # the payment mechanics are tested on a shop without receipts; test_receipts.py turns them on
    "fiscalization": False,
    "receipt_delay": 0.2,
}


class Receiver:
    """A tiny HTTP server: records POSTed notifications, answers with scripted status codes, 200 to GETs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.posts: list[dict[str, Any]] = []
        self.gets: list[str] = []
        self.codes: list[int] = []  # status codes to answer to the next POSTs (then 200)
        self.always: int | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    if receiver.always is not None:
                        code = receiver.always
                    else:
                        code = receiver.codes.pop(0) if receiver.codes else 200
                    receiver.posts.append({"body": json.loads(body), "code": code, "time": time.time()})
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def do_GET(self) -> None:
                with receiver.lock:
                    receiver.gets.append(self.path)
                page = b"<html><body><h1 id='shop'>Back at the shop</h1></body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def clear(self) -> None:
        with self.lock:
            self.posts.clear()
            self.gets.clear()
            self.codes.clear()
            self.always = None

    def accepted(self, event: str | None = None, object_id: str | None = None) -> list[dict[str, Any]]:
        """Notifications answered with 200, optionally filtered."""
        with self.lock:
            items = [p["body"] for p in self.posts if p["code"] == 200]
        return [
            n
            for n in items
            if (event is None or n["event"] == event)
            and (object_id is None or n["object"]["id"] == object_id)
        ]

    def all_posts(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.posts)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="session")
def sandbox_process(receiver: Receiver) -> Iterator[SandboxHandle]:
    with run_sandbox(webhook_url=f"{receiver.url}/hook") as handle:
        yield handle


@pytest.fixture
def sandbox(sandbox_process: SandboxHandle, receiver: Receiver) -> SandboxHandle:
    """The shared sandbox with clean state, default settings and the SDK pointed at it."""
    sandbox_process.reset()
    sandbox_process.update_settings(webhook_url=f"{receiver.url}/hook", **DEFAULT_SETTINGS)
    receiver.clear()
    Configuration.configure(
        sandbox_process.shop_id, sandbox_process.secret_key, api_url=sandbox_process.api_url
    )
    return sandbox_process
