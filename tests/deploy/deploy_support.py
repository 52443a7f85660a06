"""Helpers of the chart and manifest tests (fixtures are in conftest.py). They use a real Helm (the
helm-python-sdk wheel: Helm's Go SDK through ctypes), real Kubernetes schemas (kubernetes-validate, 1.33,
strict) and promtool from Debian's prometheus package."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "kinobill"
KUBE_VERSION = "1.33.0"
RELEASE, NAMESPACE = "kb", "kinobill"

# Everything optional switched on: ingress (with the admin host), ServiceMonitor, PrometheusRule, worker
# metrics, Grafana dashboards.
FULL_VALUES: dict[str, Any] = {
    "ingress": {
        "enabled": True,
        "adminHost": "admin.kinobill.example",
        "tls": [{"secretName": "kinobill-tls", "hosts": ["api.kinobill.example"]}],
    },
    "monitoring": {
        "serviceMonitor": {"enabled": True},
        "prometheusRule": {"enabled": True},
        "workerMetrics": {"enabled": True},
    },
    "grafana": {"dashboards": {"enabled": True}},
}


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = (
            deep_merge(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else value
        )
    return out


class Rendered:
    """The manifests of one render: documents with the template they came from."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files
        self.docs: list[tuple[str, dict[str, Any]]] = []
        for path, text in sorted(files.items()):
            if path.endswith("NOTES.txt"):
                continue
            for doc in yaml.safe_load_all(text):
                if doc:
                    self.docs.append((path, doc))

    def kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for _, d in self.docs if d["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        (found,) = [d for d in self.kind(kind) if d["metadata"]["name"] == name]
        return found

    @property
    def notes(self) -> str:
        return next(t for p, t in self.files.items() if p.endswith("NOTES.txt"))
