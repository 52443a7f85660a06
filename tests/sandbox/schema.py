"""Validation of sandbox responses against the official YooKassa OpenAPI spec (components.schemas)."""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from yookassa_sandbox.spec import SPEC_FILE

# The official YooKassa v3 spec, kept beside the sandbox; YOOKASSA_OPENAPI_SPEC points at another copy.
SPEC_PATH = Path(
    os.environ.get(
        "YOOKASSA_OPENAPI_SPEC",
        str(SPEC_FILE),
    )
)


def _any_of_for_discriminators(node: Any) -> Any:
    # The spec's discriminators are partly unusable as written (Payment.confirmation has no mapping, so a
    # validator looks for a schema named "redirect"), and without them a bank-card method also matches the
    # other method schemas, so ``oneOf`` always fails. We relax such a ``oneOf`` to ``anyOf`` and validate the
    # schema the discriminator value maps to explicitly below.
    if isinstance(node, dict):
        if "discriminator" in node and "oneOf" in node:
            node["anyOf"] = node.pop("oneOf")
            node.pop("discriminator")
        for value in node.values():
            _any_of_for_discriminators(value)
    elif isinstance(node, list):
        for value in node:
            _any_of_for_discriminators(value)
    return node


@functools.cache
def _components() -> dict[str, Any]:
    spec = yaml.safe_load(SPEC_PATH.read_text())
    return _any_of_for_discriminators(copy.deepcopy(spec["components"]))


@functools.cache
def _mapped(base: str, value: str) -> str:
    spec = yaml.safe_load(SPEC_PATH.read_text())
    return str(spec["components"]["schemas"][base]["discriminator"]["mapping"][value].rsplit("/", 1)[1])


def validate(obj: Any, schema_name: str) -> None:
    components = _components()
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": components}
    OAS30Validator(schema, format_checker=oas30_format_checker).validate(obj)
    if schema_name == "Payment":
        if "payment_method" in obj:
            validate(obj["payment_method"], _mapped("PaymentMethod", obj["payment_method"]["type"]))
        if "confirmation" in obj:
            validate(obj["confirmation"], _mapped("Confirmation", obj["confirmation"]["type"]))
    if schema_name in ("PaymentList", "RefundList"):
        for item in obj["items"]:
            validate(item, schema_name[: -len("List")])
