"""Size limits answered before a body is read: 413 for bodies (the APIs' limit is small, the webhook's
larger), 431 for headers; an unknown webhook event is one metrics label, not a label per value."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx

MIB = 1024 * 1024


def _raw_exchange(base_url: str, head: bytes, body_chunk: bytes, chunks: int) -> tuple[bytes, int]:
    """Send `head`, then up to `chunks` copies of `body_chunk` until the server answers; return the
    answer and how many body bytes were sent before it came."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head)
        sent = 0
        sock.setblocking(False)
        answer = b""
        for _ in range(chunks):
            try:
                answer = sock.recv(65536)
                if answer:
                    break
            except BlockingIOError:
                pass
            try:
                sent += sock.send(body_chunk)
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                break
        sock.setblocking(True)
        sock.settimeout(10)
        while not _complete(answer):  # the head and the body may arrive in separate packets
            more = sock.recv(65536)
            if not more:
                break
            answer += more
        return answer, sent


def _complete(answer: bytes) -> bool:
    """The whole answer is in: its head and as many body bytes as its Content-Length says."""
    head, separator, body = answer.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return True


def test_a_64_mib_body_is_refused_without_being_read(stack, tokens):
    head = (
        f"POST /internal/v1/plans HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {tokens.service('admin')}\r\nContent-Length: {64 * MIB}\r\n\r\n"
    ).encode()
    answer, sent = _raw_exchange(stack.subscriptions_url, head, b"x" * 65536, chunks=1024)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"code":"body_too_large"' in answer.replace(b" ", b"")
    assert sent < 16 * MIB  # answered long before the body could have been read


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    for _ in range(total // size):
        yield b"[" + b" " * (size - 2) + b"]"


def test_a_chunked_body_is_cut_off_at_the_limit(stack, tokens):
    response = httpx.post(
        f"{stack.billing_url}/internal/v1/payments",
        headers={**tokens.service_headers("subscriptions"), "Idempotency-Key": uuid.uuid4().hex},
        content=_chunks(2 * MIB),
        timeout=30,
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "body_too_large"


def test_the_webhook_takes_a_larger_body_than_the_apis_but_not_any(stack):
    padded = b'{"type": "notification", "event": "payment.succeeded", "object": {"id": "x"}, "pad": "'
    medium = padded + b"a" * (256 * 1024) + b'"}'
    url = f"{stack.billing_url}/webhooks/yookassa"
    assert httpx.post(url, content=medium, timeout=30).status_code != 413  # over the APIs' 64 KiB
    api = httpx.post(f"{stack.billing_url}/internal/v1/reconcile", content=medium, timeout=30)
    assert api.status_code == 413
    huge = httpx.post(url, content=padded + b"a" * (2 * MIB) + b'"}', timeout=30)
    assert huge.status_code == 413


def test_oversized_headers_are_refused_with_431(stack, tokens):
    headers = {**tokens.service_headers("admin"), "X-Padding": "a" * (64 * 1024)}
    response = httpx.get(f"{stack.subscriptions_url}/internal/v1/plans", headers=headers, timeout=30)
    assert response.status_code == 431
    assert response.json()["error"]["code"] == "headers_too_large"


def _webhook_event_labels(stack) -> set[str]:
    metrics = httpx.get(f"{stack.billing_url}/metrics").text
    return {
        line.split('event="')[1].split('"')[0]
        for line in metrics.splitlines()
        if line.startswith("kinobill_webhooks_total{")
    }


def test_unknown_webhook_events_share_one_metrics_label(stack):
    url = f"{stack.billing_url}/webhooks/yookassa"
    for n in range(3):
        event = f"made.up.{n}." + "e" * 1000
        body = {"type": "notification", "event": event, "object": {"id": str(uuid.uuid4())}}
        assert httpx.post(url, json=body, timeout=10).status_code == 200
    labels = _webhook_event_labels(stack)
    assert "other" in labels
    assert not any(label.startswith("made.up") for label in labels)
