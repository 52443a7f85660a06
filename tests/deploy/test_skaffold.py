"""skaffold.yaml against skaffold's own JSON schema (v4beta13, kept in tests/contracts/), and the paths
it names exist; the Dockerfile it builds is multi-stage, frozen, non-root."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import yaml
from deploy_support import REPO

SCHEMA = REPO / "tests" / "contracts" / "skaffold-schema-v4beta13.json"


@pytest.fixture(scope="module")
def skaffold() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "skaffold.yaml").read_text()))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    if not SCHEMA.exists():
        pytest.skip(f"skaffold's v4beta13 JSON schema is not at {SCHEMA} (CI provides it)")
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))


def test_skaffold_yaml_fits_the_v4beta13_schema(
    skaffold: dict[str, Any], validator: jsonschema.Draft7Validator
) -> None:
    assert skaffold["apiVersion"] == "skaffold/v4beta13"
    assert [e.message for e in validator.iter_errors(skaffold)] == []


def test_the_schema_catches_a_typo(skaffold: dict[str, Any], validator: jsonschema.Draft7Validator) -> None:
    broken = json.loads(json.dumps(skaffold))
    broken["deploy"]["helm"]["releases"][0]["valueFiles"] = ["k8s/dev-values.yaml"]  # valuesFiles
    assert list(validator.iter_errors(broken))


def test_what_skaffold_names_exists(skaffold: dict[str, Any]) -> None:
    (artifact,) = skaffold["build"]["artifacts"]
    assert (REPO / artifact["context"] / artifact["docker"]["dockerfile"]).is_file()
    (release,) = skaffold["deploy"]["helm"]["releases"]
    assert (REPO / release["chartPath"] / "Chart.yaml").is_file()
    assert all((REPO / f).is_file() for f in release["valuesFiles"])
    assert release["setValueTemplates"]["image.repository"] == "{{.IMAGE_REPO_kinobill}}"
    assert all(
        (REPO / p / "kustomization.yaml").is_file() for p in skaffold["manifests"]["kustomize"]["paths"]
    )


def test_the_dockerfile_is_multi_stage_frozen_and_non_root() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert text.count("\nFROM ") + text.startswith("FROM ") >= 2
    assert "uv sync --frozen --no-dev" in text
    user = [line for line in text.splitlines() if line.startswith("USER ")]
    assert user and user[-1].split()[1].split(":")[0] not in ("0", "root")
    assert ":latest" not in text
