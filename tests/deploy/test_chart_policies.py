"""What the rendered chart promises: hardened pods, probes, PDBs and HPAs, NetworkPolicy coverage, public
routing only for public paths, pinned images, every worker role running somewhere, one renewal policy."""

from __future__ import annotations

import json
from typing import Any

import pytest
from deploy_support import REPO, Rendered

API = ["subscriptions", "billing", "admin"]
DATASTORES = {"postgres", "redis"}  # their own policies: tests/deploy/test_chart_security.py


def pod_templates(rendered: Rendered) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(name, pod template metadata, pod spec) of every Deployment, StatefulSet and Job."""
    out = []
    for kind in ("Deployment", "StatefulSet", "Job"):
        for obj in rendered.kind(kind):
            template = obj["spec"]["template"]
            out.append((f"{kind}/{obj['metadata']['name']}", template["metadata"], template["spec"]))
    return out


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec.get("initContainers", [])) + list(spec["containers"])


@pytest.mark.parametrize("which", ["default_render", "full_render", "dev_render"])
def test_every_pod_runs_hardened(request: pytest.FixtureRequest, which: str) -> None:
    rendered: Rendered = request.getfixturevalue(which)
    pods = pod_templates(rendered)
    assert len(pods) >= 6
    for name, _, spec in pods:
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        tmp = [v for v in spec["volumes"] if v["name"] == "tmp"]
        assert tmp and "emptyDir" in tmp[0], f"{name}: /tmp must be an emptyDir"
        for c in containers(spec):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"], name
            assert c["resources"]["requests"], f"{name}/{c['name']} has no resource requests"


def test_only_the_operator_gets_a_kubernetes_token(default_render: Rendered) -> None:
    for name, _, spec in pod_templates(default_render):
        if name == "Deployment/kb-kinobill-operator":
            assert spec["serviceAccountName"] == "kb-kinobill-operator"
        else:
            assert spec["automountServiceAccountToken"] is False, name


def test_http_services_have_liveness_readiness_and_startup_probes(default_render: Rendered) -> None:
    for component in API:
        deployment = default_render.get("Deployment", f"kb-kinobill-{component}")
        (c,) = deployment["spec"]["template"]["spec"]["containers"]
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert c["lifecycle"]["preStop"], "graceful drain before SIGTERM"
    operator = default_render.get("Deployment", "kb-kinobill-operator")
    (c,) = operator["spec"]["template"]["spec"]["containers"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert operator["spec"]["replicas"] == 2 and env["KINOBILL_OPERATOR_PEERING"] == "kb-kinobill-operator"
    assert default_render.get("KopfPeering", "kb-kinobill-operator"), "the replicas elect one through peering"


def test_commands_match_the_cli(default_render: Rendered) -> None:
    commands = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["command"]
        for d in default_render.kind("Deployment")
    }
    assert commands["kb-kinobill-subscriptions"][:5] == [
        "kinobill",
        "serve",
        "subscriptions",
        "--host",
        "0.0.0.0",
    ]
    assert commands["kb-kinobill-billing"][:3] == ["kinobill", "serve", "billing"]
    assert commands["kb-kinobill-admin"][:3] == ["python", "-m", "kinobill_admin"]
    assert commands["kb-kinobill-operator"] == ["python", "-m", "kinobill_operator"]
    assert commands["kb-kinobill-worker-relays"] == [
        "kinobill",
        "worker",
        "--only",
        "relay-subscriptions,relay-billing",
    ]
    job = default_render.get("Job", "kb-kinobill-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["initContainers"][0]["command"] == ["kinobill", "migrate"]


def test_pdbs_and_hpas_cover_the_apis(default_render: Rendered) -> None:
    for component in ["subscriptions", "billing"]:
        deployment = default_render.get("Deployment", f"kb-kinobill-{component}")
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        pdb = default_render.get("PodDisruptionBudget", f"kb-kinobill-{component}")
        assert pdb["spec"]["minAvailable"] == 1
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
        hpa = default_render.get("HorizontalPodAutoscaler", f"kb-kinobill-{component}")
        assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
        assert hpa["spec"]["minReplicas"] >= 2
        assert "replicas" not in deployment["spec"], "the HPA owns replicas"
    assert default_render.get("PodDisruptionBudget", "kb-kinobill-admin")


def selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    return policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("which", ["default_render", "full_render"])
def test_every_pod_is_covered_by_exactly_one_networkpolicy(
    request: pytest.FixtureRequest, which: str
) -> None:
    rendered: Rendered = request.getfixturevalue(which)
    policies = rendered.kind("NetworkPolicy")
    for policy in policies:
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    for name, meta, _ in pod_templates(rendered):
        matching = [p["metadata"]["name"] for p in policies if selects(p, meta["labels"])]
        assert len(matching) == 1, f"{name}: {matching}"


def ingress_peers(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]


def egress_targets(policy: dict[str, Any]) -> set[int]:
    return {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}


def test_networkpolicies_say_who_may_talk_to_whom(default_render: Rendered) -> None:
    np = {p["metadata"]["name"].removeprefix("kb-kinobill-"): p for p in default_render.kind("NetworkPolicy")}
    auth = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "auth"}}}
    ingress_ctl = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    release = {"podSelector": {"matchLabels": {"app.kubernetes.io/instance": "kb"}}}
    # Subscriptions' internal API: the release's pods and Auth; its public API via the ingress controller.
    assert auth in ingress_peers(np["subscriptions"]) and release in ingress_peers(np["subscriptions"])
    # Billing: not Auth; the webhook and public API via the ingress controller.
    assert auth not in ingress_peers(np["billing"]) and ingress_ctl in ingress_peers(np["billing"])
    assert ingress_peers(np["admin"]) == [ingress_ctl]
    for closed in ("operator", "migrate"):
        assert release not in ingress_peers(np[closed]) and ingress_ctl not in ingress_peers(np[closed])
    # Workers take no traffic but Prometheus' scrapes of their status port.
    assert np["workers"]["spec"]["ingress"] == [
        {
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
            "ports": [{"port": "metrics", "protocol": "TCP"}],
        }
    ]
    # Egress: only Billing and the workers reach YooKassa (443) and only the workers SMTP; all reach Postgres.
    for name in set(np) - DATASTORES:
        assert 5432 in egress_targets(np[name]) and 53 in egress_targets(np[name])
    assert 587 in egress_targets(np["workers"]) and 587 not in egress_targets(np["billing"])
    assert 443 not in egress_targets(np["admin"]) and 443 in egress_targets(np["billing"])
    assert 6379 not in egress_targets(np["admin"]) and 6379 not in egress_targets(np["migrate"])


def test_the_ingress_routes_only_public_paths(full_render: Rendered) -> None:
    (ingress,) = full_render.kind("Ingress")
    routes = {
        (rule["host"], p["path"]): p["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    assert routes[("api.kinobill.example", "/webhooks/yookassa")] == "kb-kinobill-billing"
    assert routes[("api.kinobill.example", "/api/v1/subscriptions")] == "kb-kinobill-subscriptions"
    assert routes[("admin.kinobill.example", "/")] == "kb-kinobill-admin"
    assert [host for (host, path) in routes if path == "/"] == ["admin.kinobill.example"]
    assert not any(path.startswith("/internal") or path == "/metrics" for (_, path) in routes)


def test_no_latest_or_untagged_images_in_production_values(default_render: Rendered) -> None:
    images = {c["image"] for _, _, spec in pod_templates(default_render) for c in containers(spec)}
    assert images == {"registry.example.com/kinobill/kinobill:0.1.0"}
    plain = (REPO / "k8s").rglob("statefulset.yaml")
    for path in plain:
        for line in path.read_text().splitlines():
            if line.strip().startswith("image:"):
                image = line.split("image:", 1)[1].strip()
                assert ":" in image and not image.endswith(":latest"), f"{path}: {image}"


def test_secrets_come_from_the_existing_secret_by_key(default_render: Rendered, dev_render: Rendered) -> None:
    assert default_render.kind("Secret") == []
    refs = {
        (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"], e["name"])
        for _, _, spec in pod_templates(default_render)
        for c in containers(spec)
        for e in c.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert {name for name, _, _ in refs} == {"kinobill-secrets"}
    assert all(key == env for _, key, env in refs)
    billing = default_render.get("Deployment", "kb-kinobill-billing")["spec"]["template"]["spec"][
        "containers"
    ][0]
    admin = default_render.get("Deployment", "kb-kinobill-admin")["spec"]["template"]["spec"]["containers"][0]
    assert "YOOKASSA_SECRET_KEY" in {e["name"] for e in billing["env"]}
    assert "YOOKASSA_SECRET_KEY" not in {e["name"] for e in admin["env"]}, "least privilege"
    (secret,) = dev_render.kind("Secret")
    assert secret["metadata"]["annotations"]["helm.sh/hook-weight"] == "-10", "before the migrate hook Job"


def test_every_worker_role_runs_exactly_once(default_render: Rendered, dev_render: Rendered) -> None:
    from kinobill.config import Settings
    from kinobill.runtime import Runtime
    from kinobill.workers import build_roles

    settings = Settings(
        database_url="postgresql+psycopg://u@127.0.0.1:1/x", redis_url="redis://127.0.0.1:1/0"
    )
    known = set(build_roles(Runtime(settings)))  # builds the role table only; connects to nothing
    for rendered in (default_render, dev_render):
        running: list[str] = []
        for d in rendered.kind("Deployment"):
            command = d["spec"]["template"]["spec"]["containers"][0]["command"]
            if command[:2] == ["kinobill", "worker"]:
                running += command[3].split(",")
        if rendered.kind("RenewalSchedule") and any(
            d["metadata"]["name"].endswith("-operator") for d in rendered.kind("Deployment")
        ):
            running.append("scheduler")
        assert sorted(running) == sorted(known)


def test_one_renewal_policy_for_the_operator_and_the_payment_results(default_render: Rendered) -> None:
    from kinobill.domain.schedule import RenewalPolicy
    from kinobill.subscriptions.renewals import policy_from_config

    (cr,) = default_render.kind("RenewalSchedule")
    config = default_render.get("ConfigMap", "kb-kinobill-config")["data"]
    env_policy = policy_from_config(config["KINOBILL_RENEWAL_POLICY"])
    spec = {k: v for k, v in cr["spec"].items() if k != "suspended"}
    assert RenewalPolicy.from_mapping(spec) == env_policy
    assert json.loads(config["KINOBILL_RENEWAL_POLICY"]) == spec
    assert config["KINOBILL_ENV"] == "production"


def test_the_default_locale_and_zone_reach_the_services_and_are_ones_they_accept(
    default_render: Rendered,
) -> None:
    from kinobill.i18n.locales import SUPPORTED_LOCALES, LocaleZone

    config = default_render.get("ConfigMap", "kb-kinobill-config")["data"]
    assert LocaleZone(config["KINOBILL_DEFAULT_LOCALE"], config["KINOBILL_DEFAULT_TIMEZONE"]) == LocaleZone(
        "ru", "Europe/Moscow"
    )
    schema = json.loads((REPO / "charts" / "kinobill" / "values.schema.json").read_text())
    enum = schema["properties"]["config"]["properties"]["defaultLocale"]["enum"]
    assert sorted(enum) == sorted(SUPPORTED_LOCALES)  # the values schema offers exactly what the code speaks


def test_operator_rbac_allows_what_kopf_does(default_render: Rendered) -> None:
    role = default_render.get("Role", "kb-kinobill-operator")
    rules = {
        (g, r): set(rule["verbs"])
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
    }
    assert {"list", "watch", "patch"} <= rules[("kinobill.io", "renewalschedules")]
    assert "patch" in rules[("kinobill.io", "renewalschedules/status")]
    assert "create" in rules[("", "events")]
    binding = default_render.get("RoleBinding", "kb-kinobill-operator")
    assert binding["subjects"][0]["name"] == "kb-kinobill-operator"
    cluster = default_render.get("ClusterRole", "kb-kinobill-kinobill-operator")
    assert all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in cluster["rules"]), (
        "cluster-wide: read only"
    )


def test_config_changes_roll_the_pods(render: Any) -> None:
    def checksum(values: dict[str, Any]) -> str:
        d = render(values).get("Deployment", "kb-kinobill-billing")
        return str(d["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum({}) != checksum({"config": {"smtpHost": "mail.other.example"}})


def test_notes_tell_how_to_check_the_release(default_render: Rendered, dev_render: Rendered) -> None:
    assert "kubectl -n kinobill get renewalschedules default" in default_render.notes
    assert "WARNING" not in default_render.notes
    assert "chart created the Secret from values" in dev_render.notes
