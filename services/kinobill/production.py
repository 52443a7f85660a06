"""What KINOBILL_ENV=production refuses: development settings that would run, but unsafely.

`unsafe_settings` names every offending setting; `Settings` refuses to load with them (so every process
refuses to start, with a message naming them), and `kinobill token` and `kinobill run` refuse to run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from kinobill.config import Settings

# The YooKassa sandbox's shop (services/yookassa_sandbox): never a real shop.
SANDBOX_SHOP_ID = "100500"


def _generated_locally(settings: Settings, key_file: Path | None) -> bool:
    """A key file under KINOBILL_HOME/keys: made by `kinobill run` / LocalKeys, not by the platform."""
    if key_file is None:
        return False
    local = (Path(settings.kinobill_home) / "keys").resolve()
    return Path(key_file).resolve().is_relative_to(local)


def unsafe_settings(settings: Settings) -> list[str]:
    """Every setting production refuses, each with why (empty: nothing refused)."""
    problems: list[str] = []
    if settings.yookassa_shop_id == SANDBOX_SHOP_ID:
        problems.append(f"YOOKASSA_SHOP_ID is the sandbox's shop ({SANDBOX_SHOP_ID})")
    if settings.yookassa_secret_key.startswith("test_"):
        problems.append("YOOKASSA_SECRET_KEY is a test key (test_...)")
    if urlsplit(settings.yookassa_api_url).scheme != "https":
        problems.append("YOOKASSA_API_URL is not an https:// URL")
    if not (settings.jwt_public_key or settings.jwt_public_key_file or settings.jwt_jwks_url):
        problems.append("no user token key: set JWT_JWKS_URL, JWT_PUBLIC_KEY or JWT_PUBLIC_KEY_FILE")
    if not (settings.service_jwt_public_key or settings.service_jwt_public_key_file):
        problems.append("no service token key: set SERVICE_JWT_PUBLIC_KEY or SERVICE_JWT_PUBLIC_KEY_FILE")
    for name, key_file in (
        ("JWT_PUBLIC_KEY_FILE", settings.jwt_public_key_file),
        ("SERVICE_JWT_PUBLIC_KEY_FILE", settings.service_jwt_public_key_file),
    ):
        if key_file is not None and not Path(key_file).is_file():
            problems.append(f"{name} is not a file")
        elif _generated_locally(settings, key_file):
            problems.append(f"{name} is a locally generated key (under KINOBILL_HOME/keys)")
    if settings.test_clock_enabled:
        problems.append("KINOBILL_TEST_CLOCK is on")
    if settings.crash_points:
        problems.append("KINOBILL_CRASH_POINTS is set")
    return problems


def production_requested() -> bool:
    """KINOBILL_ENV=production, read before any setting is validated (commands that refuse outright)."""
    return os.environ.get("KINOBILL_ENV", "").strip().lower() == "production"


def refusal(problems: list[str]) -> str:
    return "KINOBILL_ENV=production refuses these settings: " + "; ".join(problems)
