"""A STAND-IN for Subscriptions' internal endpoint, implementing only its contract.

    GET /internal/v1/users/{user_id}/subscriptions/active
        Authorization: Bearer <service token>        -> 401 {"error": {...}} without it
        200 {"user_id": ..., "items": [...]} + strong ETag; If-None-Match == ETag -> 304, no body

The real endpoint exists (``kinobill.subscriptions.access_api``) and the client is tested against it
in ``test_against_subscriptions.py`` and ``tests/access/test_auth_client.py`` (real ETags and 304s,
the real token check, invalidation by real change events, stale answers while the real process is
stopped). This stand-in stays for what the real service cannot be made to do on demand: answer 503
to every request or to the next k only, answer slowly, answer for a chosen user with chosen items
and counted requests, or run code in the middle of a request (the races in ``test_client.py``).

Knobs, all safe to flip from the test thread:

* ``set_items(user_id, items)``: what the endpoint answers for a user (the ETag follows the content);
* ``mode = "503"``: every request answered 503 (the service is "down" but the port is open);
  ``stop()`` closes the port for real, ``start()`` opens it again on the same port;
* ``fail_next = k``: the next k requests get 503, then normal answers (to see retries);
* ``delay = s``: each request waits s seconds before answering (to see timeouts);
* ``on_request``: a callable run inside each request before it is answered;
* ``requests``: every request seen, as :class:`Seen` (user id, If-None-Match, status).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from yookassa_sandbox.testing import free_port

SERVICE_TOKEN = "test-service-token"


@dataclass(frozen=True)
class Seen:
    user_id: str
    if_none_match: str | None
    status: int


def item(plan_code: str, access_until: str, subscription_id: str, period: str = "month") -> dict[str, str]:
    return {
        "subscription_id": subscription_id,
        "plan_code": plan_code,
        "period": period,
        "access_until": access_until,
    }


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class ContractServer:
    def __init__(self, service_token: str = SERVICE_TOKEN) -> None:
        self.service_token = service_token
        self.port = free_port()
        self.mode = "up"
        self.fail_next = 0
        self.delay = 0.0
        self.on_request: Callable[[str], None] | None = None
        self._items: dict[str, list[dict[str, str]]] = {}
        self._requests: list[Seen] = []
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = self._build_app()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- state ----------------------------------------------------------------------------------

    def set_items(self, user_id: str, items: list[dict[str, str]]) -> None:
        with self._lock:
            self._items[user_id] = list(items)

    def body_for(self, user_id: str) -> dict[str, Any]:
        with self._lock:
            return {"user_id": user_id, "items": list(self._items.get(user_id, []))}

    @staticmethod
    def etag_of(body: dict[str, Any]) -> str:
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        return '"' + hashlib.sha256(canonical).hexdigest()[:32] + '"'

    @property
    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self._requests)

    def count(self, user_id: str | None = None, status: int | None = None) -> int:
        return sum(
            1
            for r in self.requests
            if (user_id is None or r.user_id == user_id) and (status is None or r.status == status)
        )

    def _record(self, user_id: str, inm: str | None, status: int) -> None:
        with self._lock:
            self._requests.append(Seen(user_id, inm, status))

    # -- the endpoint ---------------------------------------------------------------------------

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/internal/v1/users/{user_id}/subscriptions/active")
        async def active(user_id: str, request: Request) -> Response:
            inm = request.headers.get("if-none-match")
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.on_request is not None:
                self.on_request(user_id)
            with self._lock:
                failing = self.mode == "503" or self.fail_next > 0
                if self.fail_next > 0:
                    self.fail_next -= 1
            if failing:
                self._record(user_id, inm, 503)
                return _error(503, "unavailable", "stand-in told to fail")
            if request.headers.get("authorization") != f"Bearer {self.service_token}":
                self._record(user_id, inm, 401)
                return _error(401, "unauthorized", "a valid service token is required")
            body = self.body_for(user_id)
            etag = self.etag_of(body)
            if inm is not None and etag in [t.strip() for t in inm.split(",")]:
                self._record(user_id, inm, 304)
                return Response(status_code=304, headers={"ETag": etag})
            self._record(user_id, inm, 200)
            return JSONResponse(body, headers={"ETag": etag})

        return app

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> ContractServer:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            loop="asyncio",
            http="h11",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"contract-server-{self.port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"contract server did not start on port {self.port}")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError("contract server did not stop")
        self._server = self._thread = None
