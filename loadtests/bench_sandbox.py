"""Benchmark: payment creations per second of the YooKassa sandbox on one core.

Starts the sandbox as a subprocess pinned to one core (``taskset -c 0``), checks that the real SDK works
against it, then drives ``POST /v3/payments`` with SDK-shaped requests (JSON body as the SDK builds it,
Basic auth, a fresh Idempotence-Key each) from this process, pinned to another core, over keep-alive
connections with a minimal asyncio HTTP/1.1 client (``--client httpx`` saturates its own core first).
Bounded in requests and time; prints creations/s and p50/p99 latency, then stops the sandbox.

    .venv/bin/python loadtests/bench_sandbox.py [--seconds 5] [--concurrency 32] [--max-requests 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import statistics
import sys
import time
import uuid

from yookassa_sandbox.testing import run_sandbox

BODY = {
    "amount": {"currency": "RUB", "value": "499.00"},
    "capture": True,
    "confirmation": {"return_url": "https://kinobill.example/return", "type": "redirect"},
    "description": "Kinobill subscription",
    "metadata": {"cms_name": "yookassa_sdk_python", "subscription_id": "42"},
    "save_payment_method": True,
    "statements": [],
    "transfers": [],
}


class RawClient:
    """One keep-alive HTTP/1.1 connection; enough protocol for JSON answers with Content-Length."""

    def __init__(self, host: str, port: int, auth: str) -> None:
        self.host, self.port, self.auth = host, port, auth
        self.body = json.dumps(BODY).encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def create(self) -> int:
        assert self.reader is not None and self.writer is not None
        head = (
            f"POST /v3/payments HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-type: application/json\r\nAuthorization: {self.auth}\r\n"
            f"Idempotence-Key: {uuid.uuid4()}\r\nYM-User-Agent: YooKassa.Python/3.13.0\r\n"
            f"Content-Length: {len(self.body)}\r\n\r\n"
        ).encode()
        return await self.send(head + self.body)

    async def send(self, request: bytes) -> int:
        """Write one whole request; read the answer (headers, Content-Length body); return its status."""
        assert self.reader is not None and self.writer is not None
        self.writer.write(request)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def drive(
    args: argparse.Namespace, host: str, port: int, auth: str
) -> tuple[int, int, list[float], float]:
    latencies: list[float] = []
    errors = 0
    sent = 0
    deadline = time.perf_counter() + args.seconds

    async def worker_raw() -> None:
        nonlocal sent, errors
        client = RawClient(host, port, auth)
        await client.connect()
        try:
            while sent < args.max_requests and time.perf_counter() < deadline:
                sent += 1
                t0 = time.perf_counter()
                status = await client.create()
                latencies.append(time.perf_counter() - t0)
                errors += status != 200
        finally:
            await client.close()

    async def worker_httpx(client: object) -> None:
        nonlocal sent, errors
        import httpx

        assert isinstance(client, httpx.AsyncClient)
        while sent < args.max_requests and time.perf_counter() < deadline:
            sent += 1
            t0 = time.perf_counter()
            resp = await client.post(
                "/v3/payments",
                content=json.dumps(BODY),
                headers={
                    "Content-type": "application/json",
                    "Authorization": auth,
                    "Idempotence-Key": str(uuid.uuid4()),
                },
            )
            latencies.append(time.perf_counter() - t0)
            errors += resp.status_code != 200

    started = time.perf_counter()
    if args.client == "httpx":
        import httpx

        limits = httpx.Limits(max_connections=args.concurrency)
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", limits=limits) as client:
            await asyncio.gather(*(worker_httpx(client) for _ in range(args.concurrency)))
    else:
        await asyncio.gather(*(worker_raw() for _ in range(args.concurrency)))
    elapsed = time.perf_counter() - started
    return len(latencies), errors, latencies, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measurement time limit")
    parser.add_argument("--max-requests", type=int, default=50_000, help="request count limit")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent connections")
    parser.add_argument("--warmup", type=int, default=500, help="requests before measuring")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--client-core", type=int, default=1)
    args = parser.parse_args()

    prefix = ["taskset", "-c", str(args.server_core)] if shutil.which("taskset") else None
    # the payment mechanics, on a shop without receipts
    with run_sandbox(command_prefix=prefix, env={"YOOKASSA_SANDBOX_FISCALIZATION": "0"}) as sb:
        if prefix is None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(sb.process.pid, {args.server_core})
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(0, {args.client_core})
        # the real SDK first: the benchmark measures what the SDK would get
        from yookassa import Configuration, Payment

        Configuration.configure(sb.shop_id, sb.secret_key, api_url=sb.api_url)
        assert Payment.create(BODY, str(uuid.uuid4())).status == "pending"

        auth = "Basic " + base64.b64encode(f"{sb.shop_id}:{sb.secret_key}".encode()).decode()
        warm = argparse.Namespace(**{**vars(args), "max_requests": args.warmup, "seconds": 10.0})
        asyncio.run(drive(warm, sb.host, sb.port, auth))
        count, errors, latencies, elapsed = asyncio.run(drive(args, sb.host, sb.port, auth))
        created = len(sb.journal(operation="payments.create", http_status=200))

    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    rate = count / elapsed
    print(
        f"sandbox payment creations: {count} in {elapsed:.2f} s = {rate:,.0f}/s on one core "
        f"(client={args.client}, concurrency={args.concurrency}); p50 {p50:.2f} ms, p99 {p99:.2f} ms; "
        f"errors {errors}; journal shows {created} created"
    )
    return 0 if errors == 0 and rate >= 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
