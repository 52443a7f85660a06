"""helm lint --strict and the values schema, through a real Helm (helm-python-sdk), plus the chart's own
guards (template `fail`s) for combinations a schema cannot express."""

from __future__ import annotations

from typing import Any

import pytest
from deploy_support import CHART, FULL_VALUES, KUBE_VERSION, deep_merge


def lint_problems(helm: Any, values: dict[str, Any]) -> list[dict[str, Any]]:
    result = helm.lint(str(CHART), values, strict=True, kube_version=KUBE_VERSION, namespace="kinobill")
    # Helm's severities: 1 info, 2 warning, 3 error. --strict fails on warnings too.
    return list(result["errors"]) + [m for m in result["messages"] if m["severity"] >= 2]


@pytest.mark.parametrize("name", ["default", "full", "dev"])
def test_helm_lint_strict_is_clean(helm: Any, dev_values: dict[str, Any], name: str) -> None:
    values = {"default": {}, "full": FULL_VALUES, "dev": dev_values}[name]
    assert lint_problems(helm, values) == []


def test_helm_lint_reports_a_broken_value(helm: Any) -> None:
    assert lint_problems(helm, {"subscriptions": {"replicas": 0}}), "lint must fail on a schema violation"


@pytest.mark.parametrize("name", ["default", "full", "dev"])
def test_good_values_pass_the_schema(chart: Any, dev_values: dict[str, Any], name: str) -> None:
    chart.validate_schema({"default": {}, "full": FULL_VALUES, "dev": dev_values}[name])


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"bogus": 1}, "additional properties 'bogus'"),
        ({"image": {"repository": "kinobill", "tag": ""}}, "/image/tag"),
        ({"environment": "staging"}, "/environment"),
        ({"subscriptions": {"replicas": 0}}, "/subscriptions/replicas"),
        ({"billing": {"autoscaling": {"enabled": True, "maxReplica": 3}}}, "maxReplica"),
        ({"podSecurityContext": {"runAsNonRoot": False}}, "/podSecurityContext/runAsNonRoot"),
        ({"containerSecurityContext": {"allowPrivilegeEscalation": True}}, "allowPrivilegeEscalation"),
        ({"renewalPolicy": {"interval": "soon"}}, "/renewalPolicy/interval"),
        ({"renewalPolicy": {"leadDays": 1}}, "leadDays"),
        (
            {
                "workers": [
                    {"name": "x", "roles": ["bogus-role"], "replicas": 1, "resources": {"requests": {}}}
                ]
            },
            "/workers/0/roles/0",
        ),
        ({"workers": [{"name": "x", "roles": ["relay-billing"], "replicas": 1}]}, "resources"),
        ({"networkPolicy": {"egress": {"dns": {"to": []}}}}, "/networkPolicy/egress"),
        ({"config": {"smtpPort": 70000}}, "/config/smtpPort"),
        ({"config": {"defaultLocale": "de"}}, "/config/defaultLocale"),
        ({"monitoring": {"prometheusRule": {"http5xxRatio": 2}}}, "http5xxRatio"),
    ],
)
def test_bad_values_fail_the_schema(helm: Any, chart: Any, values: dict[str, Any], where: str) -> None:
    with pytest.raises(helm.HelmValuesError) as raised:
        chart.validate_schema(values)
    assert where in str(raised.value)


SCHEDULER_WORKER = {"name": "scheduler", "roles": ["scheduler"], "replicas": 1, "resources": {"requests": {}}}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"workers": [SCHEDULER_WORKER]}, "the renewal scheduler runs in the operator"),
        ({"operator": {"enabled": False}}, "nothing would run renewals"),
        (
            {
                "workers": [
                    {**SCHEDULER_WORKER, "roles": ["relay-billing"]},
                    {**SCHEDULER_WORKER, "name": "b", "roles": ["relay-billing"]},
                ]
            },
            'worker role "relay-billing" is in more than one worker group',
        ),
        ({"secrets": {"existingSecret": ""}}, "environment=production needs secrets.existingSecret"),
        ({"image": {"repository": "kinobill", "tag": "latest"}}, "pinned image.tag"),
    ],
)
def test_the_chart_refuses_unsafe_combinations(
    helm: Any, chart: Any, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmError) as raised:
        chart.render(values, name="kb", namespace="kinobill")
    assert message in str(raised.value)


def test_the_operator_can_be_swapped_for_the_scheduler_worker(render: Any) -> None:
    rendered = render(deep_merge({"operator": {"enabled": False}}, {"workers": [SCHEDULER_WORKER]}))
    names = {d["metadata"]["name"] for d in rendered.kind("Deployment")}
    assert "kb-kinobill-worker-scheduler" in names and "kb-kinobill-operator" not in names
