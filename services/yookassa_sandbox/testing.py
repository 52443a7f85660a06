"""Launcher for test suites: run the sandbox as a real subprocess and drive its ``/sandbox`` API.

from yookassa_sandbox.testing import run_sandbox

with run_sandbox(webhook_url="http://127.0.0.1:9000/hook") as sb:
    Configuration.configure(sb.shop_id, sb.secret_key, api_url=sb.api_url)
    payment = Payment.create({...})
    sb.confirm(payment.id, "5555555555554444")
    assert sb.journal(operation="payments.create", replayed=False)  # real charges
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from .config import DEFAULT_SECRET_KEY, DEFAULT_SHOP_ID
from .tls import generate_self_signed

_handed_out: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port() -> int:
    """A loopback port free now, below the kernel's ephemeral range when there is room: a port the kernel
    handed out by `bind(0)` is in that range, and a process that binds it seconds later may find it
    taken by the source port of someone's outgoing connection meanwhile."""
    low, _ = _ephemeral_range()
    if low > 11000:
        for _ in range(50):
            port = random.randrange(10000, low)
            if port in _handed_out:  # given to a caller that may not have bound it yet
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; raise TimeoutError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)


class SandboxError(RuntimeError):
    pass


class SandboxHandle:
    """A running sandbox process plus thin wrappers over its ``/sandbox`` test-helper API."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        host: str,
        port: int,
        https: bool,
        shop_id: str,
        secret_key: str,
        ca_file: str | None,
        log_path: Path,
    ) -> None:
        self.process = process
        self.host = host
        self.port = port
        self.https = https
        self.shop_id = shop_id
        self.secret_key = secret_key
        self.ca_file = ca_file  # the self-signed certificate (pass as ``verify=`` to clients) when https
        self.log_path = log_path
        scheme = "https" if https else "http"
        self.base_url = f"{scheme}://{host}:{port}"
        self.api_url = f"{self.base_url}/v3"
        self.client = httpx.Client(base_url=self.base_url, verify=ca_file or True, timeout=10.0)

    # ------------------------------------------------------------------ /sandbox API
    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.client.request(method, path, **kwargs)
        if resp.status_code != 200:
            raise SandboxError(f"{method} {path} -> {resp.status_code}: {resp.text}")
        return resp.json()

    def health(self) -> dict[str, Any]:
        return dict(self._call("GET", "/sandbox/health"))

    def confirm(
        self,
        payment_id: str,
        card_number: str,
        *,
        expiry_month: str | None = None,
        expiry_year: str | None = None,
        csc: str | None = None,
    ) -> dict[str, Any]:
        """Pay a pending payment with a test card, as the payer on the checkout page would."""
        body: dict[str, Any] = {"card_number": card_number}
        if expiry_month:
            body["expiry_month"] = expiry_month
        if expiry_year:
            body["expiry_year"] = expiry_year
        if csc:
            body["csc"] = csc
        return dict(self._call("POST", f"/sandbox/payments/{payment_id}/confirm", json=body))

    def expire(self, payment_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/sandbox/payments/{payment_id}/expire"))

    def set_behaviour(self, method_id: str, outcome: str, party: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"outcome": outcome}
        if party:
            body["party"] = party
        return dict(self._call("POST", f"/sandbox/payment_methods/{method_id}/behaviour", json=body))

    def confirm_payment_method(self, method_id: str, card_number: str) -> dict[str, Any]:
        """Bind a test card to a ``POST /payment_methods`` method, as the payer on its page would."""
        body = {"card_number": card_number}
        return dict(self._call("POST", f"/sandbox/payment_methods/{method_id}/confirm", json=body))

    def saved_method(self, method_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/sandbox/payment_methods/{method_id}"))

    def set_refund_behaviour(
        self, outcome: str, payment_id: str | None = None, party: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"outcome": outcome, "payment_id": payment_id}
        if party:
            body["party"] = party
        return dict(self._call("POST", "/sandbox/refunds/behaviour", json=body))

    def complete_refund(self, refund_id: str, outcome: str = "succeeded") -> dict[str, Any]:
        return dict(self._call("POST", f"/sandbox/refunds/{refund_id}/complete", json={"outcome": outcome}))

    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        """Every /v3 request received, oldest first; filters are exact matches on the entry fields."""
        params = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in filters.items()}
        return list(self._call("GET", "/sandbox/journal", params=params)["items"])

    def add_fault(
        self, kind: str, endpoint: str = "*", count: int | None = 1, **options: Any
    ) -> dict[str, Any]:
        """See the package docstring for kinds and options (latency_ms, retry_after, commit, copies)."""
        body = {"kind": kind, "endpoint": endpoint, "count": count, **options}
        return dict(self._call("POST", "/sandbox/faults", json=body))

    def faults(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/sandbox/faults")["items"])

    def remove_fault(self, fault_id: str) -> dict[str, Any]:
        """Remove one fault (e.g. an unlimited one once it has done its work); answers it as it was."""
        return dict(self._call("DELETE", f"/sandbox/faults/{fault_id}"))

    def clear_faults(self) -> int:
        return int(self._call("DELETE", "/sandbox/faults")["removed"])

    def webhook_deliveries(self, **filters: str) -> list[dict[str, Any]]:
        return list(self._call("GET", "/sandbox/webhooks", params=filters)["items"])

    def settings(self) -> dict[str, Any]:
        return dict(self._call("GET", "/sandbox/settings"))

    def update_settings(self, **values: Any) -> dict[str, Any]:
        return dict(self._call("POST", "/sandbox/settings", json=values))

    def set_webhook_url(self, url: str | None) -> dict[str, Any]:
        return self.update_settings(webhook_url=url)

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        return dict(self._call("POST", "/sandbox/clock", json={"advance_seconds": seconds}))

    def reset(self) -> None:
        self._call("POST", "/sandbox/reset")

    # ------------------------------------------------------------------ process
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_sandbox(
    port: int | None = None,
    *,
    webhook_url: str | None = None,
    https: bool = False,
    env: dict[str, str] | None = None,
    host: str = "127.0.0.1",
    startup_timeout: float = 20.0,
    command_prefix: list[str] | None = None,
) -> SandboxHandle:
    """Start ``python -m yookassa_sandbox`` and wait (polling /sandbox/health) until it answers."""
    workdir = Path(tempfile.mkdtemp(prefix="yookassa-sandbox-"))
    attempts = 1 if port else 3  # a free port may be taken between probing and binding: try another
    last_error = ""
    for _ in range(attempts):
        chosen = port or free_port()
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env.setdefault("YOOKASSA_SHOP_ID", DEFAULT_SHOP_ID)
        full_env.setdefault("YOOKASSA_SECRET_KEY", DEFAULT_SECRET_KEY)
        full_env["YOOKASSA_SANDBOX_HOST"] = host
        full_env["YOOKASSA_SANDBOX_PORT"] = str(chosen)
        full_env.setdefault(
            "YOOKASSA_SANDBOX_PUBLIC_URL", f"{'https' if https else 'http'}://{host}:{chosen}"
        )
        if webhook_url:
            full_env["YOOKASSA_SANDBOX_WEBHOOK_URL"] = webhook_url
        ca_file = None
        if https:
            full_env["YOOKASSA_SANDBOX_HTTPS"] = "1"
            if not full_env.get("YOOKASSA_SANDBOX_CERTFILE"):
                cert, key = generate_self_signed(workdir / "tls")
                full_env["YOOKASSA_SANDBOX_CERTFILE"], full_env["YOOKASSA_SANDBOX_KEYFILE"] = cert, key
            ca_file = full_env["YOOKASSA_SANDBOX_CERTFILE"]
        log_path = workdir / f"sandbox-{chosen}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [*(command_prefix or []), sys.executable, "-m", "yookassa_sandbox"],
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        handle = SandboxHandle(
            process,
            host,
            chosen,
            https,
            full_env["YOOKASSA_SHOP_ID"],
            full_env["YOOKASSA_SECRET_KEY"],
            ca_file,
            log_path,
        )
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if handle.client.get("/sandbox/health", timeout=1.0).status_code == 200:
                    return handle
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        last_error = handle.log()
        handle.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    raise SandboxError(f"the sandbox did not become ready:\n{last_error}")


@contextlib.contextmanager
def run_sandbox(
    port: int | None = None,
    *,
    webhook_url: str | None = None,
    https: bool = False,
    env: dict[str, str] | None = None,
    **kwargs: Any,
) -> Iterator[SandboxHandle]:
    """Context manager around :func:`start_sandbox`; the process is stopped on exit."""
    handle = start_sandbox(port, webhook_url=webhook_url, https=https, env=env, **kwargs)
    try:
        yield handle
    finally:
        handle.stop()
        shutil.rmtree(handle.log_path.parent, ignore_errors=True)
