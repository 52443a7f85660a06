"""Alerts and dashboards: the PrometheusRule's groups pass `promtool check rules`, two alerts fire (and stay
quiet) as `promtool test rules` says, every metric they and the Grafana dashboards use is one the code
exports, and the dashboards are JSON with unique panel ids in a ConfigMap the Grafana sidecar picks up."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import CHART, REPO, Rendered

METRIC_DEF = re.compile(r"\b(Counter|Gauge|Histogram|Summary)\(\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\"", re.S)
METRIC_USE = re.compile(r"\b(kinobill_[a-zA-Z0-9_]+)")


def exported_metrics() -> set[str]:
    """Series names the code exports (prometheus_client naming: counters end in _total, histograms add
    _bucket/_sum/_count)."""
    names: set[str] = set()
    for path in (REPO / "services").rglob("*.py"):
        for kind, name in METRIC_DEF.findall(path.read_text()):
            if kind == "Counter":
                names.add(name if name.endswith("_total") else f"{name}_total")
            elif kind in ("Histogram", "Summary"):
                names |= {name, f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            else:
                names.add(name)
    return names


@pytest.fixture(scope="module")
def rule_groups(full_render: Rendered) -> dict[str, Any]:
    (rule,) = full_render.kind("PrometheusRule")
    return {"groups": rule["spec"]["groups"]}


def series(service: str, status: str) -> str:
    return (
        f'kinobill_http_requests_total{{namespace="kinobill",service="{service}",method="GET",'
        f'route="/x",status="{status}"}}'
    )


def test_the_code_exports_the_metrics_we_alert_on() -> None:
    names = exported_metrics()
    assert {
        "kinobill_outbox_lag_seconds",
        "kinobill_stream_pending",
        "kinobill_http_requests_total",
        "kinobill_stream_last_poll_age_seconds",
        "kinobill_stream_dead_letters",
        "kinobill_email_dead_letters",
    } <= names


def test_alerts_cover_the_pipeline_and_use_only_exported_metrics(rule_groups: dict[str, Any]) -> None:
    alerts = {r["alert"]: r for g in rule_groups["groups"] for r in g["rules"]}
    assert set(alerts) == {
        "KinobillOutboxLag",
        "KinobillStreamPending",
        "KinobillConsumerStalled",
        "KinobillDeadLetters",
        "KinobillEmailDeadLetters",
        "KinobillPaymentsStuckPending",
        "KinobillReconcilerRecoveriesSpike",
        "KinobillProviderErrors",
        "KinobillReceiptCanceled",
        "KinobillHTTP5xx",
    }
    used = {m for r in alerts.values() for m in METRIC_USE.findall(r["expr"])}
    assert used and used <= exported_metrics(), used - exported_metrics()


def run(promtool: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_promtool_check_rules(promtool: Path, rule_groups: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule_groups, sort_keys=False))
    done = run(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 10 rules found" in done.stdout
    broken = {"groups": [{"name": "x", "rules": [{"alert": "X", "expr": "sum(rate(x[5m]) >"}]}]}
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(broken))
    assert run(promtool, "check", "rules", "broken.yaml", cwd=tmp_path).returncode != 0


UNIT_TESTS = {
    "rule_files": ["rules.yaml"],
    "evaluation_interval": "1m",
    "tests": [
        {
            "interval": "1m",
            "input_series": [
                {
                    "series": 'kinobill_outbox_lag_seconds{namespace="kinobill",schema="billing"}',
                    "values": "0 30 90x12",
                },
                {
                    "series": 'kinobill_outbox_lag_seconds{namespace="kinobill",schema="subscriptions"}',
                    "values": "0x14",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "4m", "alertname": "KinobillOutboxLag", "exp_alerts": []},
                {
                    "eval_time": "9m",
                    "alertname": "KinobillOutboxLag",
                    "exp_alerts": [
                        {
                            "exp_labels": {"severity": "warning", "schema": "billing"},
                            "exp_annotations": {
                                "summary": "Outbox billing is 1m 30s behind",
                                "description": (
                                    "The oldest unpublished outbox row is older than 60s: the relay worker is"
                                    " down or Redis is unreachable. Events (activations, charge commands) are"
                                    " delayed, not lost."
                                ),
                            },
                        }
                    ],
                },
            ],
        },
        {
            "interval": "1m",
            "input_series": [
                {
                    "series": series("billing", "200"),
                    "values": "0+100x20",
                },
                {
                    "series": series("billing", "500"),
                    "values": "0+10x20",
                },
                {
                    "series": series("subscriptions", "200"),
                    "values": "0+100x20",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "3m", "alertname": "KinobillHTTP5xx", "exp_alerts": []},
                {
                    "eval_time": "15m",
                    "alertname": "KinobillHTTP5xx",
                    "exp_alerts": [
                        {
                            "exp_labels": {"severity": "critical", "service": "billing"},
                            "exp_annotations": {
                                "summary": "billing answers 9.091% of requests with 5xx",
                                "description": "Check the service's logs, /readyz, Postgres and Redis.",
                            },
                        }
                    ],
                },
            ],
        },
    ],
}


STALL_DESCRIPTION = (
    "Redis is unreachable or the consumer is stuck; the worker's /healthz fails after"
    " KINOBILL_CONSUMER_STALL_SECONDS so Kubernetes restarts it. Payment results wait (the backstop"
    " applies them from Billing's record within its bound)."
)
STALL_TESTS = {
    "rule_files": ["rules.yaml"],
    "evaluation_interval": "1m",
    "tests": [
        {
            "interval": "1m",
            "input_series": [
                {
                    "series": (
                        'kinobill_stream_last_poll_age_seconds{namespace="kinobill",'
                        'stream="kinobill:billing:payment-results",group="subscriptions"}'
                    ),
                    "values": "1 1 1 60+60x10",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "3m", "alertname": "KinobillConsumerStalled", "exp_alerts": []},
                {
                    "eval_time": "8m",
                    "alertname": "KinobillConsumerStalled",
                    "exp_alerts": [
                        {
                            "exp_labels": {
                                "severity": "critical",
                                "stream": "kinobill:billing:payment-results",
                                "group": "subscriptions",
                            },
                            "exp_annotations": {
                                "summary": (
                                    "The subscriptions consumer of kinobill:billing:payment-results has not"
                                    " polled for 6m 0s"
                                ),
                                "description": STALL_DESCRIPTION,
                            },
                        }
                    ],
                },
            ],
        },
    ],
}


def test_promtool_a_stalled_consumer_alerts(
    promtool: Path, rule_groups: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule_groups, sort_keys=False))
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(STALL_TESTS, sort_keys=False))
    done = run(promtool, "test", "rules", "tests.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    healthy = json.loads(json.dumps(STALL_TESTS))
    healthy["tests"][0]["input_series"][0]["values"] = "1x14"  # polling every second: quiet
    (tmp_path / "quiet.yaml").write_text(yaml.safe_dump(healthy, sort_keys=False))
    assert run(promtool, "test", "rules", "quiet.yaml", cwd=tmp_path).returncode != 0


def test_promtool_unit_tests_fire_two_alerts(
    promtool: Path, rule_groups: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule_groups, sort_keys=False))
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(UNIT_TESTS, sort_keys=False))
    done = run(promtool, "test", "rules", "tests.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
    # And the unit test can fail: a lag under the threshold must not fire.
    quiet = json.loads(json.dumps(UNIT_TESTS))
    quiet["tests"][0]["input_series"][0]["values"] = "0 30 50x12"
    (tmp_path / "quiet.yaml").write_text(yaml.safe_dump(quiet, sort_keys=False))
    assert run(promtool, "test", "rules", "quiet.yaml", cwd=tmp_path).returncode != 0


DASHBOARDS = sorted((CHART / "dashboards").glob("*.json"))


def test_there_are_dashboards() -> None:
    assert [p.name for p in DASHBOARDS] == ["kinobill-http.json", "kinobill-payments.json"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: Path(p).name)
def test_dashboards_are_valid_and_use_only_exported_metrics(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {ids}"
    assert dashboard["uid"] and dashboard["title"].startswith("Kinobill")
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    assert all(exprs)
    used = {m for e in exprs for m in METRIC_USE.findall(e)}
    assert used <= exported_metrics(), used - exported_metrics()


def test_dashboards_cover_what_operators_watch() -> None:
    text = " ".join(p.read_text() for p in DASHBOARDS)
    for metric in [
        "kinobill_http_requests_total",
        "kinobill_http_request_duration_seconds_bucket",
        "kinobill_payments_settled_total",
        "kinobill_provider_call_seconds_bucket",
        "kinobill_provider_calls_total",
        "kinobill_webhooks_total",
        "kinobill_outbox_lag_seconds",
        "kinobill_stream_pending",
        "kinobill_reconciler_recoveries_total",
    ]:
        assert metric in text, metric


def test_dashboards_configmap_for_the_grafana_sidecar(
    full_render: Rendered, default_render: Rendered
) -> None:
    (cm,) = [c for c in full_render.kind("ConfigMap") if c["metadata"]["name"].endswith("-dashboards")]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert sorted(cm["data"]) == [p.name for p in DASHBOARDS]
    for name, text in cm["data"].items():
        assert json.loads(text) == json.loads((CHART / "dashboards" / name).read_text())
    assert not [c for c in default_render.kind("ConfigMap") if c["metadata"]["name"].endswith("-dashboards")]
