"""Fixtures of the tests on a real control plane (``pytest -m k8s``): the control plane itself, the chart
installed with ``helm install --wait`` onto kwok nodes, and figures printed at the end of the run.

The binaries come from ``scripts/k8s-tools`` (a versioned cache; the first build takes ~10 minutes, which
``scripts/test`` does before pytest starts). Without Go these tests are skipped with the reason.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from control_plane import ControlPlane, ToolsUnavailable, control_plane_tools
from k8s_support import (
    CHART,
    FIGURES,
    NAMESPACE,
    RELEASE,
    install_values,
    record_figure,
    restricted_namespace,
    secret,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.k8s)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("Kubernetes control plane figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")


@pytest.fixture(scope="session")
def k8s_tools() -> Path:
    started = time.monotonic()
    try:
        tools = control_plane_tools()
    except ToolsUnavailable as exc:
        pytest.skip(f"no Kubernetes control plane here: {exc}")
    record_figure("control-plane binaries ready (build or cache)", f"{time.monotonic() - started:.1f} s")
    return tools


@pytest.fixture(scope="session")
def control_plane(k8s_tools: Path) -> Iterator[ControlPlane]:
    workdir = Path(tempfile.mkdtemp(prefix="kbk8s-", dir=os.environ.get("KINOBILL_TEST_DIR")))
    plane = ControlPlane(k8s_tools, workdir)
    try:
        plane.start()
        record_figure(
            "control plane start (etcd → apiserver ready)", f"{plane.timings.control_plane_start:.1f} s"
        )
        record_figure("control plane + 3 kwok nodes Ready", f"{plane.timings.nodes_ready:.1f} s")
        # The Prometheus Operator CRDs (from their Go module) so ServiceMonitor/PrometheusRule validate.
        for crd in sorted((k8s_tools / "crds").glob("*.yaml")):
            plane.kubectl("apply", "--server-side", "-f", str(crd))
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def helm_config(control_plane: ControlPlane) -> Iterator[Any]:
    helm = pytest.importorskip("helm_python", reason="helm-python-sdk (dev dependency) is not installed")
    config = helm.Config(kubeconfig_path=str(control_plane.kubeconfig), namespace=NAMESPACE)
    yield config
    config.close()


@pytest.fixture(scope="session")
def chart() -> Any:
    helm = pytest.importorskip("helm_python", reason="helm-python-sdk (dev dependency) is not installed")
    return helm.Chart.load(str(CHART))


@pytest.fixture(scope="session")
def release(control_plane: ControlPlane, helm_config: Any, chart: Any) -> dict[str, Any]:
    """The chart with everything optional on, installed with --wait into a Pod Security restricted
    namespace; the Secret it names exists beforehand (as in production)."""
    control_plane.apply(restricted_namespace(NAMESPACE), secret(NAMESPACE))
    started = time.monotonic()
    installed = helm_config.install(
        chart, RELEASE, install_values(), namespace=NAMESPACE, wait="watcher", timeout=180
    )
    record_figure("helm install --wait (everything on)", f"{time.monotonic() - started:.1f} s")
    return dict(installed)
