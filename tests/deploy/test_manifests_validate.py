"""Every manifest the chart renders (default, everything on, dev values) and every plain manifest in k8s/
validates against the Kubernetes 1.33 OpenAPI schemas, strictly (unknown fields are errors). Custom
resources: RenewalSchedule against our CRD (jsonschema); ServiceMonitor and PrometheusRule structurally
(the Prometheus Operator CRDs are not vendored here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from deploy_support import CHART, REPO, Rendered

kv = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate (dev dependency) is not installed"
)
K8S = "1.33.0"
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule", "RenewalSchedule", "KopfPeering"}


def validate_all(docs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    failures = []
    for path, doc in docs:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        try:
            kv.validate(doc, K8S, strict=True)
        except kv.ValidationError as exc:
            failures.append(f"{path}: {doc['kind']}/{doc['metadata']['name']}: {exc}")
    return failures


@pytest.mark.parametrize("which", ["default_render", "full_render", "dev_render"])
def test_rendered_manifests_validate_strictly(request: pytest.FixtureRequest, which: str) -> None:
    rendered: Rendered = request.getfixturevalue(which)
    assert len(rendered.docs) > 15
    assert validate_all(rendered.docs) == []


def test_validation_would_catch_a_bad_manifest(default_render: Rendered) -> None:
    deployment = dict(default_render.kind("Deployment")[0])
    broken = {**deployment, "spec": {**deployment["spec"], "replicaz": 2}}
    assert validate_all([("x", broken)]), "strict validation must reject an unknown field"


def crd_schema(path: Path) -> dict[str, Any]:
    crd = yaml.safe_load(path.read_text())
    kv.validate(crd, K8S, strict=True)  # the CRD itself is a valid apiextensions/v1 object
    return dict(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def test_the_renewalschedule_cr_fits_its_crd(full_render: Rendered, dev_render: Rendered) -> None:
    schema = crd_schema(CHART / "crds" / "renewalschedules.kinobill.io.yaml")
    for rendered in (full_render, dev_render):
        (cr,) = rendered.kind("RenewalSchedule")
        jsonschema.validate(cr, schema)


def test_servicemonitor_and_prometheusrule_are_well_formed(full_render: Rendered) -> None:
    (monitor,) = full_render.kind("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["selector"]["matchLabels"]["kinobill.io/metrics"] == "true"
    scraped = [
        s for s in full_render.kind("Service") if s["metadata"]["labels"].get("kinobill.io/metrics") == "true"
    ]
    assert {s["metadata"]["name"] for s in scraped} == {
        "kb-kinobill-subscriptions",
        "kb-kinobill-billing",
        "kb-kinobill-workers-metrics",
    }
    for service in scraped:
        assert any(p["name"] == monitor["spec"]["endpoints"][0]["port"] for p in service["spec"]["ports"])
    (rule,) = full_render.kind("PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    for group in rule["spec"]["groups"]:
        assert set(group) == {"name", "rules"}
        for r in group["rules"]:
            assert set(r) <= {"alert", "expr", "for", "labels", "annotations"} and r["alert"] and r["expr"]


K8S_MANIFESTS = sorted(
    p for p in (REPO / "k8s").rglob("*.yaml") if p.name not in {"kustomization.yaml", "dev-values.yaml"}
)


@pytest.mark.parametrize("path", K8S_MANIFESTS, ids=lambda p: str(Path(p).relative_to(REPO)))
def test_plain_manifests_validate_strictly(path: Path) -> None:
    docs = [(str(path), d) for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs
    assert validate_all(docs) == []


@pytest.mark.parametrize("folder", ["postgres", "redis"])
def test_kustomizations_list_every_manifest(folder: str) -> None:
    base = REPO / "k8s" / folder
    listed = set(yaml.safe_load((base / "kustomization.yaml").read_text())["resources"])
    present = {p.name for p in base.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == present
