"""The chart, the plain manifests and the RenewalSchedule CRD against a real kube-apiserver (with the
controller-manager, the scheduler and kwok's fake nodes): what offline rendering and schema checks cannot
prove — admission (Pod Security ``restricted``), server-side validation and defaulting, RBAC, and that a
``helm install --wait`` actually converges."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from control_plane import ControlPlane
from k8s_support import (
    APP_SA,
    CHART,
    FULLNAME,
    NAMESPACE,
    OPERATOR_SA,
    RELEASE,
    REPO,
    condition,
    restricted_namespace,
)

from deploy.deploy_support import FULL_VALUES

VALUES_SETS = {
    "default": {},
    "everything-on": FULL_VALUES,
    "dev": yaml.safe_load((REPO / "k8s" / "dev-values.yaml").read_text()),
}


@pytest.fixture(scope="module")
def chart_crds(control_plane: ControlPlane) -> None:
    for crd in sorted((CHART / "crds").glob("*.yaml")):
        control_plane.kubectl("apply", "--server-side", "-f", str(crd))
    control_plane.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")


def rendered_docs(chart: Any, values: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    files = chart.render(values, name=RELEASE, namespace=namespace, is_install=True)
    return [
        doc
        for path, text in sorted(files.items())
        if not path.endswith("NOTES.txt")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


@pytest.mark.parametrize("values_set", list(VALUES_SETS))
def test_every_values_set_passes_server_side_dry_run(
    control_plane: ControlPlane, chart: Any, chart_crds: None, values_set: str
) -> None:
    namespace = f"dry-{values_set}"
    control_plane.apply(restricted_namespace(namespace))
    docs = rendered_docs(chart, VALUES_SETS[values_set], namespace)
    done = control_plane.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "-n",
        namespace,
        "-f",
        "-",
        input=yaml.safe_dump_all(docs),
    )
    applied = [line for line in done.stdout.splitlines() if "serverside-applied" in line]
    assert len(applied) == len(docs), done.stdout
    assert "Warning" not in done.stderr, done.stderr  # no deprecated APIs, no Pod Security warnings


@pytest.mark.parametrize("manifests", ["postgres", "redis"])
def test_the_plain_manifests_pass_server_side_dry_run(control_plane: ControlPlane, manifests: str) -> None:
    namespace = f"dry-{manifests}"
    control_plane.apply(restricted_namespace(namespace))
    done = control_plane.kubectl(
        "apply", "--server-side", "--dry-run=server", "-n", namespace, "-k", str(REPO / "k8s" / manifests)
    )
    assert "statefulset.apps/kinobill-" in done.stdout and "serverside-applied" in done.stdout, done.stdout
    assert "Warning" not in done.stderr, done.stderr


def test_helm_install_wait_converges_on_kwok_nodes(
    control_plane: ControlPlane, release: dict[str, Any]
) -> None:
    assert release["status"] == "deployed"
    deployments = control_plane.get_json("deployments", "-n", NAMESPACE)["items"]
    assert len(deployments) >= 8
    for deployment in deployments:
        available = condition(deployment, "Available")
        assert available and available["status"] == "True", deployment["metadata"]["name"]
    job = control_plane.get_json("job", f"{FULLNAME}-migrate", "-n", NAMESPACE)
    assert (condition(job, "Complete") or {}).get("status") == "True", job["status"]
    pods = control_plane.get_json("pods", "-n", NAMESPACE)["items"]
    nodes = {pod["spec"].get("nodeName") for pod in pods}
    assert nodes <= {f"kwok-node-{i}" for i in range(3)} and len(nodes) >= 2, "spread over the kwok nodes"
    assert {p["metadata"]["labels"].get("app.kubernetes.io/component") for p in pods} >= {
        "subscriptions",
        "billing",
        "admin",
        "operator",
        "migrate",
    }


def test_pdbs_hpas_and_the_ingress_are_accepted(control_plane: ControlPlane, release: dict[str, Any]) -> None:
    pdbs = control_plane.get_json("pdb", "-n", NAMESPACE)["items"]
    assert {p["metadata"]["name"] for p in pdbs} >= {f"{FULLNAME}-{c}" for c in ("subscriptions", "billing")}
    for pdb in pdbs:
        assert pdb["status"].get("expectedPods", 0) >= 1, pdb["metadata"]["name"]
    hpas = control_plane.get_json("hpa", "-n", NAMESPACE)["items"]
    assert {h["spec"]["scaleTargetRef"]["name"] for h in hpas} >= {
        f"{FULLNAME}-subscriptions",
        f"{FULLNAME}-billing",
    }
    ingress = control_plane.get_json("ingress", FULLNAME, "-n", NAMESPACE)
    routes = {
        path["path"]: path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert routes["/return"] == f"{FULLNAME}-subscriptions"
    assert not any(path.startswith("/internal") for path in routes)
    assert control_plane.get_json("servicemonitor", "-n", NAMESPACE)["items"]
    assert control_plane.get_json("prometheusrule", "-n", NAMESPACE)["items"]


def test_pod_security_restricted_is_enforced_in_the_release_namespace(
    control_plane: ControlPlane, release: dict[str, Any]
) -> None:
    labels = control_plane.get_json("namespace", NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    # Fine under "baseline", not under "restricted" (no runAsNonRoot, seccomp, dropped capabilities).
    unhardened = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "unhardened", "namespace": NAMESPACE},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    done = control_plane.kubectl("apply", "-f", "-", input=json.dumps(unhardened), check=False)
    assert done.returncode != 0 and "violates PodSecurity" in done.stderr, done.stderr


def renewal_schedule(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "kinobill.io/v1",
        "kind": "RenewalSchedule",
        "metadata": {"name": name},
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ({"interval": "soon"}, "spec.interval: Invalid value"),
        ({"reminderDays": -1}, "spec.reminderDays: Invalid value"),
        ({"batchSize": 0}, "spec.batchSize: Invalid value"),
        ({"dunningSchedule": "1d"}, "spec.dunningSchedule: Invalid value"),
        ({"dunningSchedule": ["1d"] * 21}, "spec.dunningSchedule: Too many"),
        ({"suspended": "yes"}, "spec.suspended: Invalid value"),
        ({"interval": "60s", "retries": 3}, 'unknown field "spec.retries"'),
    ],
)
def test_the_crd_rejects_bad_specs_server_side(
    control_plane: ControlPlane, chart_crds: None, spec: dict[str, Any], complaint: str
) -> None:
    control_plane.apply(restricted_namespace("crd-checks"))
    done = control_plane.kubectl(
        "create", "-n", "crd-checks", "--validate=strict", "-f", "-",
        input=json.dumps(renewal_schedule("bad", spec)), check=False,
    )  # fmt: skip
    assert done.returncode != 0 and complaint in done.stderr, done.stderr


def test_the_crd_defaults_suspended_and_prints_it(control_plane: ControlPlane, chart_crds: None) -> None:
    control_plane.apply(restricted_namespace("crd-checks"))
    control_plane.kubectl(
        "create",
        "-n",
        "crd-checks",
        "-f",
        "-",
        input=json.dumps(renewal_schedule("minimal", {"interval": "5m"})),
    )
    stored = control_plane.get_json("renewalschedule", "minimal", "-n", "crd-checks")
    assert stored["spec"]["suspended"] is False
    table = control_plane.kubectl("get", "rsched", "minimal", "-n", "crd-checks").stdout.splitlines()
    assert table[0].split()[:3] == ["NAME", "INTERVAL", "SUSPENDED"] and table[1].split()[:3] == [
        "minimal",
        "5m",
        "false",
    ]


OPERATOR = f"system:serviceaccount:{NAMESPACE}:{OPERATOR_SA}"
APP = f"system:serviceaccount:{NAMESPACE}:{APP_SA}"


@pytest.mark.parametrize(
    ("user", "verb", "resource", "namespace", "allowed"),
    [
        (OPERATOR, "watch", "renewalschedules.kinobill.io", NAMESPACE, True),
        (OPERATOR, "patch", "renewalschedules.kinobill.io/status", NAMESPACE, True),
        (OPERATOR, "create", "events", NAMESPACE, True),
        (OPERATOR, "patch", f"kopfpeerings.kopf.dev/{FULLNAME}-operator", NAMESPACE, True),
        (OPERATOR, "patch", "kopfpeerings.kopf.dev/someone-else", NAMESPACE, False),
        (OPERATOR, "delete", "renewalschedules.kinobill.io", NAMESPACE, False),
        (OPERATOR, "create", "renewalschedules.kinobill.io", NAMESPACE, False),
        (OPERATOR, "list", "renewalschedules.kinobill.io", "default", False),
        (OPERATOR, "get", "secrets", NAMESPACE, False),
        (OPERATOR, "create", "pods", NAMESPACE, False),
        (OPERATOR, "list", "customresourcedefinitions.apiextensions.k8s.io", "", True),
        (OPERATOR, "create", "customresourcedefinitions.apiextensions.k8s.io", "", False),
        (APP, "get", "secrets", NAMESPACE, False),
        (APP, "list", "pods", NAMESPACE, False),
        (APP, "get", "configmaps", NAMESPACE, False),
        (APP, "list", "renewalschedules.kinobill.io", NAMESPACE, False),
    ],
)
def test_least_privilege(
    control_plane: ControlPlane,
    release: dict[str, Any],
    user: str,
    verb: str,
    resource: str,
    namespace: str,
    allowed: bool,
) -> None:
    assert control_plane.can_i(user, verb, resource, namespace or NAMESPACE) is allowed
