"""The RenewalSchedule CRD: examples and the chart's CR validate against its openAPIV3Schema (jsonschema),
shape errors are caught by it, and what the operator writes to status fits the schema."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jsonschema
import kopf
import pytest
import yaml

from kinobill.domain.schedule import RenewalPolicy
from kinobill.subscriptions.renewals import PassResult
from kinobill_operator import GROUP, KIND, PLURAL, VERSION
from kinobill_operator.handlers import (
    Backend,
    policy_of,
    policy_status,
    result_status,
    set_condition,
    validate,
)
from operator_support import REPO, utcnow

EXAMPLES = sorted((REPO / "operator" / "examples").glob("*.yaml"))


def schema_of(crd: dict[str, Any]) -> dict[str, Any]:
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == VERSION]
    return dict(version["schema"]["openAPIV3Schema"])


def errors(crd: dict[str, Any], obj: dict[str, Any]) -> list[str]:
    return [e.message for e in jsonschema.Draft7Validator(schema_of(crd)).iter_errors(obj)]


def test_the_crd_names_what_the_operator_watches(crd: dict[str, Any]) -> None:
    assert crd["metadata"]["name"] == f"{PLURAL}.{GROUP}"
    assert crd["spec"]["group"] == GROUP and crd["spec"]["names"]["kind"] == KIND
    (version,) = crd["spec"]["versions"]
    assert version["name"] == VERSION and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: Path(p).name)
def test_examples_fit_the_schema_and_are_valid_policies(crd: dict[str, Any], path: Path) -> None:
    example = yaml.safe_load(path.read_text())
    assert errors(crd, example) == []
    assert isinstance(policy_of(example["spec"]), RenewalPolicy)


@pytest.mark.parametrize(
    "spec",
    [
        {"interval": "soon"},
        {"reminderDays": -1},
        {"batchSize": 20000},
        {"dunningSchedule": "1d,3d"},
        {"dunningSchedule": ["1 day"]},
        {"suspended": "yes"},
    ],
)
def test_shape_errors_are_rejected_by_the_schema(crd: dict[str, Any], spec: dict[str, Any]) -> None:
    obj = {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": {"name": "x"}, "spec": spec}
    assert errors(crd, obj), f"{spec} should not fit the CRD schema"


def test_every_spec_field_is_a_policy_field_or_an_operator_switch(crd: dict[str, Any]) -> None:
    spec_fields = set(schema_of(crd)["properties"]["spec"]["properties"])
    policy_fields = set(policy_status(RenewalPolicy()))
    assert spec_fields == policy_fields | {"suspended"}


def test_what_the_operator_writes_to_status_fits_the_schema(crd: dict[str, Any]) -> None:
    status_schema = schema_of(crd)["properties"]["status"]
    result_fields = set(status_schema["properties"]["lastResult"]["properties"])
    assert set(result_status(PassResult())) == result_fields, (
        "PassResult changed: update the CRD's lastResult"
    )
    now = utcnow()
    conditions = set_condition(None, "Valid", "True", "SpecAccepted", "ok", now, 1)
    status = {
        "observedGeneration": 1,
        "lastRunAt": now.isoformat(),
        "lastResult": result_status(PassResult(charges_requested=2, batches=1)),
        "policy": policy_status(RenewalPolicy()),
        "conditions": set_condition(conditions, "Ready", "False", "PassFailed", "boom", now, 1),
    }
    obj = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {"name": "x"},
        "spec": {},
        "status": status,
    }
    assert errors(crd, obj) == []


def test_status_keys_the_api_server_would_prune_are_not_written(crd: dict[str, Any]) -> None:
    # Structural schemas prune unknown fields: every status key the handlers write must be declared.
    declared = set(schema_of(crd)["properties"]["status"]["properties"])
    patch = kopf.Patch()
    memo = kopf.Memo(backend=Backend(lambda: None, utcnow))  # type: ignore[arg-type,return-value]
    validate(spec={}, meta={"generation": 1}, status={}, patch=patch, memo=memo, logger=logging.getLogger())
    timer_keys = {"lastRunAt", "lastResult", "conditions"}  # run_schedule, see test_operator_handlers
    assert set(patch["status"]) | timer_keys <= declared
