"""The chart's least-privilege promises: Postgres and Redis fenced to the release's pods, one service
identity per component (Billing holds none), no proxy header believed from everyone."""

from __future__ import annotations

from typing import Any

import yaml
from deploy_support import REPO, Rendered


def _policy(rendered: Rendered, name: str) -> dict[str, Any]:
    (policy,) = [p for p in rendered.kind("NetworkPolicy") if p["metadata"]["name"] == f"kb-kinobill-{name}"]
    return policy


def test_postgres_and_redis_take_connections_only_from_the_release(default_render: Rendered) -> None:
    release = {"podSelector": {"matchLabels": {"app.kubernetes.io/instance": "kb"}}}
    redis = _policy(default_render, "redis")
    assert redis["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "redis"}}
    assert redis["spec"]["ingress"] == [{"from": [release], "ports": [{"port": 6379, "protocol": "TCP"}]}]
    assert redis["spec"]["egress"] == []
    postgres = _policy(default_render, "postgres")
    members = {"podSelector": postgres["spec"]["podSelector"]}
    assert postgres["spec"]["ingress"] == [
        {"from": [release], "ports": [{"port": 5432, "protocol": "TCP"}]},
        {"from": [members]},
    ]


def test_datastore_policies_can_be_left_to_the_platform(render: Any) -> None:
    rendered = render({"networkPolicy": {"datastores": {"enabled": False}}})
    names = {p["metadata"]["name"] for p in rendered.kind("NetworkPolicy")}
    assert not names & {"kb-kinobill-postgres", "kb-kinobill-redis"}


def _env_names(rendered: Rendered, component: str) -> set[str]:
    (deployment,) = [
        d for d in rendered.kind("Deployment") if d["metadata"]["name"] == f"kb-kinobill-{component}"
    ]
    return {e["name"] for c in deployment["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])}


def test_each_component_holds_only_its_own_service_identity(default_render: Rendered) -> None:
    assert "KINOBILL_SERVICE_TOKEN" in _env_names(default_render, "subscriptions")
    assert "KINOBILL_SERVICE_TOKEN" not in _env_names(default_render, "billing")  # Billing calls nobody
    admin = _env_names(default_render, "admin")
    assert "ADMIN_SERVICE_TOKEN" in admin and "KINOBILL_SERVICE_TOKEN" not in admin


def test_the_admin_believes_proxy_headers_only_from_configured_proxies(
    default_render: Rendered, render: Any
) -> None:
    def forwarded(rendered: Rendered) -> str:
        (deployment,) = [
            d for d in rendered.kind("Deployment") if d["metadata"]["name"] == "kb-kinobill-admin"
        ]
        (value,) = [
            e["value"]
            for c in deployment["spec"]["template"]["spec"]["containers"]
            for e in c.get("env", [])
            if e["name"] == "FORWARDED_ALLOW_IPS"
        ]
        return str(value)

    assert forwarded(default_render) == ""
    assert forwarded(render({"config": {"trustedProxies": "10.2.0.0/16"}})) == "10.2.0.0/16"


def test_redis_in_k8s_requires_a_password_and_a_policy() -> None:
    statefulset = yaml.safe_load((REPO / "k8s" / "redis" / "statefulset.yaml").read_text())
    (redis,) = statefulset["spec"]["template"]["spec"]["containers"]
    assert redis["command"][-2:] == ["--requirepass", "$(REDIS_PASSWORD)"]
    assert "protected-mode yes" in (REPO / "k8s" / "redis" / "configmap.yaml").read_text()
    kustomization = yaml.safe_load((REPO / "k8s" / "redis" / "kustomization.yaml").read_text())
    assert "networkpolicy.yaml" in kustomization["resources"]
    kustomization = yaml.safe_load((REPO / "k8s" / "postgres" / "kustomization.yaml").read_text())
    assert "networkpolicy.yaml" in kustomization["resources"]
