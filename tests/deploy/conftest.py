"""Fixtures of the chart and manifest tests (helpers in deploy_support.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import CHART, FULL_VALUES, NAMESPACE, RELEASE, REPO, Rendered


@pytest.fixture(scope="session")
def helm() -> Any:
    return pytest.importorskip("helm_python", reason="helm-python-sdk (dev dependency) is not installed")


@pytest.fixture(scope="session")
def chart(helm: Any) -> Any:
    return helm.Chart.load(str(CHART))


@pytest.fixture(scope="session")
def render(chart: Any) -> Any:
    def _render(values: dict[str, Any] | None = None, **kw: Any) -> Rendered:
        return Rendered(chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True, **kw))

    return _render


@pytest.fixture(scope="session")
def default_render(render: Any) -> Rendered:
    return render({})


@pytest.fixture(scope="session")
def full_render(render: Any) -> Rendered:
    return render(FULL_VALUES)


@pytest.fixture(scope="session")
def dev_values() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "k8s" / "dev-values.yaml").read_text()))


@pytest.fixture(scope="session")
def dev_render(render: Any, dev_values: dict[str, Any]) -> Rendered:
    return render(dev_values)


def _debian_promtool(cache: Path) -> Path | None:
    """promtool from Debian's prometheus package, unpacked (not installed) into `cache`."""
    binary = cache / "usr" / "bin" / "promtool"
    if binary.exists():
        return binary
    if os.geteuid() != 0 or not Path("/etc/debian_version").exists() or not shutil.which("apt-get"):
        return None
    cache.mkdir(parents=True, exist_ok=True)
    download = ["apt-get", "download", "-qq", "prometheus"]
    done = subprocess.run(download, cwd=cache, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:  # no package lists yet
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=300, check=False)
        done = subprocess.run(download, cwd=cache, capture_output=True, text=True, timeout=120, check=False)
    debs = sorted(cache.glob("prometheus_*.deb"))
    if done.returncode != 0 or not debs:
        return None
    subprocess.run(["dpkg", "-x", str(debs[-1]), str(cache)], check=True, timeout=120)
    for deb in debs:
        deb.unlink()
    return binary if binary.exists() else None


@pytest.fixture(scope="session")
def promtool() -> Iterator[Path]:
    found = shutil.which("promtool")
    if found:
        yield Path(found)
        return
    cache = Path(os.environ.get("KINOBILL_TOOLS_DIR", REPO / ".kinobill" / "tools")) / "prometheus"
    binary = _debian_promtool(cache)
    if binary is None:
        pytest.skip(
            "promtool is not on PATH and could not be unpacked from Debian's prometheus package "
            "(needs root, Debian and apt-get; or install prometheus / put promtool on PATH)"
        )
    yield binary
