"""Prometheus exposition for every process kind.

* Web services: `/metrics` on the app. With several uvicorn workers, prometheus-client's multiprocess
  mode (PROMETHEUS_MULTIPROC_DIR, set up by `kinobill serve --workers N`) sums what every worker counted.
* `kinobill worker`: a small status server (KINOBILL_WORKER_PORT) with `/metrics` and `/healthz`, which
  answers 503 once any role's thread has died (the liveness probe restarts the pod).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess


def latest_metrics() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


def prepare_multiprocess_dir(directory: Path) -> None:
    """Before uvicorn forks its workers: an empty directory for their metric files."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def serve_status(port: int, healthy: Callable[[], bool], host: str = "0.0.0.0") -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            kind = "application/json"
            if self.path == "/metrics":
                body, status, kind = latest_metrics(), 200, CONTENT_TYPE_LATEST
            elif self.path == "/healthz":
                ok = healthy()
                body, status = (b'{"status":"ok"}', 200) if ok else (b'{"status":"failing"}', 503)
            else:
                body, status = b'{"error":{"code":"not_found","message":"no such path"}}', 404
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="status-server", daemon=True).start()
    return server
