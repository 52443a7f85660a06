"""Helpers of the tests on a real control plane (fixtures are in conftest.py)."""

from __future__ import annotations

from typing import Any

from deploy.deploy_support import CHART, FULL_VALUES, NAMESPACE, RELEASE, REPO, deep_merge

__all__ = [
    "CHART",
    "NAMESPACE",
    "RELEASE",
    "REPO",
    "condition",
    "install_values",
    "restricted_namespace",
    "secret",
]

FULLNAME = f"{RELEASE}-kinobill"
OPERATOR_SA = f"{FULLNAME}-operator"
APP_SA = FULLNAME

# Figures measured by the tests (name → value), printed at the end of the run.
FIGURES: dict[str, str] = {}


def record_figure(name: str, value: str) -> None:
    FIGURES[name] = value


def install_values() -> dict[str, Any]:
    """Everything optional on (ingress, monitoring objects, dashboards), production defaults otherwise."""
    return deep_merge(FULL_VALUES, {})


def restricted_namespace(name: str) -> dict[str, Any]:
    labels = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def secret(namespace: str, name: str = "kinobill-secrets") -> dict[str, Any]:
    """The Secret the chart's existingSecret names, with placeholder values (the pods are kwok's)."""
    keys = (
        "DATABASE_URL",
        "REDIS_URL",
        "YOOKASSA_SECRET_KEY",
        "KINOBILL_SERVICE_TOKEN",
        "ADMIN_SERVICE_TOKEN",
        "DJANGO_SECRET_KEY",
    )
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": {key: f"placeholder-{key.lower()}" for key in keys},
    }


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    if not obj:
        return None
    return next(
        (c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == type_), None
    )
