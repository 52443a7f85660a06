"""The layers hold: the service layer and the domain never import HTTP.

HTTP lives in the adapters only: ``kinobill.web`` with its dependencies and middleware (``callers.py``,
``limits.py``), the routers (``*api.py``, ``app.py``, ``return_page.py``) and the development mail catcher
(``mailbox.py``). Every other module of the
package is imported in a fresh interpreter and must leave FastAPI, Starlette and ``kinobill.web``
unimported.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import kinobill

HTTP_MODULES = ("fastapi", "starlette", "kinobill.web")


def is_http_adapter(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    edge = ("return_page", "mailbox", "callers", "limits")
    return name == "kinobill.web" or last.endswith(("api", "app")) or last in edge


def non_adapter_modules() -> list[str]:
    return sorted(
        m.name
        for m in pkgutil.walk_packages(kinobill.__path__, "kinobill.")
        if ".migrations" not in m.name and not is_http_adapter(m.name)
    )


def test_no_module_outside_the_http_adapters_imports_http() -> None:
    modules = non_adapter_modules()
    assert "kinobill.subscriptions.purchases" in modules and "kinobill.billing.payments" in modules
    probe = (
        "import importlib, json, sys\n"
        "leaks = {}\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"    found = [m for m in {HTTP_MODULES!r} if m in sys.modules]\n"
        "    if found:\n"
        "        leaks[name] = found\n"
        "        break\n"
        "print(json.dumps(leaks))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
    )
    assert result.stdout.strip() == "{}", f"imports HTTP (first offender): {result.stdout}"
