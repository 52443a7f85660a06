"""The conformance run's figures at the end of the session (docs/security.md quotes them)."""

from __future__ import annotations

from typing import Any

from conformance import FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("OpenAPI conformance (schemathesis --checks all)")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")
