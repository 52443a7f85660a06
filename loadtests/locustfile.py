"""Locust load profile: users browsing plans and buying, and Auth asking for active subscriptions.

Run against a running stack (`kinobill run`, or any deployment) from the repository root:

    .venv/bin/locust -f loadtests/locustfile.py --headless -u 50 -r 50 -t 30s \
        --host http://127.0.0.1:8001

Tokens: user and service JWTs are minted once at start from the local stack's keys (KINOBILL_HOME);
against a real deployment pass KINOBILL_LOAD_SERVICE_TOKEN and a file of user tokens in
KINOBILL_LOAD_USER_TOKENS (one per line) instead. The plan bought is the first on sale, or
KINOBILL_LOAD_PLAN_ID. Only loopback or your own test hosts are valid targets.
"""

from __future__ import annotations

import itertools
import os
import uuid
from pathlib import Path

from locust import FastHttpUser, between, events, task

from kinobill.security import LocalKeys, mint_service_token, mint_user_token

_state: dict[str, object] = {}


def _tokens(count: int) -> list[str]:
    path = os.environ.get("KINOBILL_LOAD_USER_TOKENS")
    if path:
        return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    keys = LocalKeys(Path(os.environ.get("KINOBILL_HOME", ".kinobill")) / "keys").ensure()
    private = keys.user_private.read_bytes()
    return [
        mint_user_token(private, uuid.uuid4(), email=f"load{i}@example.com", ttl=4 * 3600)
        for i in range(count)
    ]


def _service_token() -> str:
    if os.environ.get("KINOBILL_LOAD_SERVICE_TOKEN"):
        return os.environ["KINOBILL_LOAD_SERVICE_TOKEN"]
    keys = LocalKeys(Path(os.environ.get("KINOBILL_HOME", ".kinobill")) / "keys").ensure()
    return mint_service_token(keys.service_private.read_bytes(), "auth")


@events.test_start.add_listener
def _prepare(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    count = int(os.environ.get("KINOBILL_LOAD_USERS", "20000"))
    _state["tokens"] = itertools.cycle(_tokens(count))
    _state["service_token"] = _service_token()
    _state["plan_id"] = os.environ.get("KINOBILL_LOAD_PLAN_ID", "")


class Buyer(FastHttpUser):
    """A user who looks at the plans and buys one (each token buys once: later buys are 409s)."""

    weight = 3
    wait_time = between(0, 0.01)

    def on_start(self) -> None:
        self.token = next(_state["tokens"])  # type: ignore[call-overload]
        self.headers = {"Authorization": f"Bearer {self.token}"}
        if not _state["plan_id"]:
            plans = self.client.get("/api/v1/plans", headers=self.headers).json()["items"]
            _state["plan_id"] = plans[0]["id"]

    @task(1)
    def browse_plans(self) -> None:
        self.client.get("/api/v1/plans", headers=self.headers, name="GET /api/v1/plans")

    @task(3)
    def buy(self) -> None:
        self.headers = {"Authorization": f"Bearer {next(_state['tokens'])}"}  # type: ignore[call-overload]
        with self.client.post(
            "/api/v1/subscriptions",
            json={"plan_id": _state["plan_id"], "period": "month"},
            headers={**self.headers, "Idempotency-Key": uuid.uuid4().hex},
            name="POST /api/v1/subscriptions",
            catch_response=True,
        ) as response:
            if response.status_code == 201 and response.json()["payment"]["confirmation_url"]:
                response.success()
            elif response.status_code == 409:
                response.success()  # this token already holds the plan: a correct answer
            else:
                response.failure(f"{response.status_code} {response.text[:200]}")


class AuthService(FastHttpUser):
    """Auth asking for a user's active subscriptions when it issues a token."""

    weight = 1
    wait_time = between(0, 0.01)

    def on_start(self) -> None:
        self.headers = {"Authorization": f"Bearer {_state['service_token']}"}

    @task
    def active_subscriptions(self) -> None:
        self.client.get(
            f"/internal/v1/users/{uuid.uuid4()}/subscriptions/active",
            headers=self.headers,
            name="GET /internal/v1/users/{id}/subscriptions/active",
        )
