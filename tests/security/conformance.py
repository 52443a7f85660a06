"""The schemathesis conformance run: its command, what it counted, and the figures printed at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

HERE = Path(__file__).parent
HOOKS = HERE / "schemathesis_hooks.py"
CONFIG = HERE / "schemathesis.toml"
# Bounded and deterministic: the same cases on every run, in about a minute for both services.
MAX_EXAMPLES = 25
RUN_TIMEOUT_S = 150

FIGURES: dict[str, str] = {}


@dataclass(frozen=True)
class Served:
    """What a service's own metrics say it answered: requests in all, and 5xx among them."""

    requests: int
    server_errors: int

    @classmethod
    def read(cls, base_url: str) -> Served:
        text = httpx.get(f"{base_url}/metrics", timeout=10).text
        requests = server_errors = 0
        for family in text_string_to_metric_families(text):
            if family.name != "kinobill_http_requests":
                continue
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels.get("route") != "/metrics":
                    requests += int(sample.value)
                    server_errors += int(sample.value) if sample.labels["status"].startswith("5") else 0
        return cls(requests, server_errors)

    def __sub__(self, other: Served) -> Served:
        return Served(self.requests - other.requests, self.server_errors - other.server_errors)


def run_schemathesis(base_url: str, tokens: dict[str, str], workdir: Path) -> dict:
    """`st run --checks all` against the service's served OpenAPI document; its JSON report."""
    report = workdir / "report.json"
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(CONFIG),
        "--no-color",
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",  # also: no example database written
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": str(HOOKS),
        "SCHEMATHESIS_KINOBILL_TOKENS": json.dumps(tokens),
    }
    done = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    (workdir / "schemathesis.log").write_text(done.stdout + done.stderr)
    if not report.exists():
        output = (done.stdout + done.stderr)[-3000:]
        raise AssertionError(f"schemathesis wrote no report (exit {done.returncode}):\n{output}")
    result = json.loads(report.read_text())
    result["output"] = done.stdout
    return result
