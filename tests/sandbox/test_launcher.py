"""The launcher other suites use, and the process started the documented ways."""

from __future__ import annotations

import subprocess
import sys

import httpx
from yookassa import Configuration, Payment

from yookassa_sandbox.testing import free_port, run_sandbox, wait_until


def test_run_sandbox_custom_port_credentials_and_stop() -> None:
    port = free_port()
    env = {
        "YOOKASSA_SHOP_ID": "777",
        "YOOKASSA_SECRET_KEY": "test_other",
        "YOOKASSA_SANDBOX_FISCALIZATION": "0",
    }
    with run_sandbox(port, env=env) as sb:
        assert sb.base_url == f"http://127.0.0.1:{port}" and sb.api_url.endswith("/v3")
        assert (sb.shop_id, sb.secret_key) == ("777", "test_other")
        Configuration.configure(sb.shop_id, sb.secret_key, api_url=sb.api_url)
        payment = Payment.create(
            {
                "amount": {"value": "1.00", "currency": "RUB"},
                "confirmation": {"type": "redirect", "return_url": "x"},
            }
        )
        assert payment.recipient.account_id == "777"
        process = sb.process
    assert process.poll() is not None  # stopped on exit


def test_console_entry_point_defaults() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from yookassa_sandbox.__main__ import main; main()", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def ready() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/sandbox/health").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout=20)
        me = httpx.get(f"http://127.0.0.1:{port}/v3/me", auth=("100500", "test_kinobill_sandbox_key"))
        assert me.status_code == 200 and me.json()["account_id"] == "100500"
    finally:
        proc.terminate()
        proc.wait(10)
