"""Sandbox settings, read from the environment once at start-up (some are changeable at runtime)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_SHOP_ID = "100500"
DEFAULT_SECRET_KEY = "test_kinobill_sandbox_key"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8010


def _env_float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    return float(raw) if raw not in (None, "") else default


_OFF = ("0", "false", "no", "off")


def _env_bool(env: dict[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class Settings:
    shop_id: str = DEFAULT_SHOP_ID
    secret_key: str = DEFAULT_SECRET_KEY
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    public_url: str = ""
    webhook_url: str | None = None
    # every delay of the webhook retry schedule and the 24 h retry window are multiplied by this factor
    webhook_retry_scale: float = 1.0
    webhook_retry_window: float = 24 * 3600.0
    webhook_timeout: float = 10.0
    confirmation_ttl: float = 3600.0  # bank card: the payer has one hour to confirm
    capture_ttl: float = 7 * 24 * 3600.0  # bank card hold: seven days
    idempotence_ttl: float = 24 * 3600.0
    currency: str = "RUB"
    gateway_id: str = ""
    https: bool = False
    certfile: str | None = None
    keyfile: str | None = None
    cert_dir: str | None = None
    journal_max: int = 1_000_000
    log_level: str = "warning"
    # 54-FZ "Чеки от ЮKassa": payments and refunds without a valid receipt are refused (receipts.py)
    fiscalization: bool = True
    receipt_delay: float = 1.0  # seconds from a successful operation to its receipt's registration
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def test(self) -> bool:
        return self.secret_key.startswith("test_")

    @property
    def scheme(self) -> str:
        return "https" if self.https else "http"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        e = dict(os.environ if env is None else env)
        s = cls(
            shop_id=e.get("YOOKASSA_SHOP_ID") or DEFAULT_SHOP_ID,
            secret_key=e.get("YOOKASSA_SECRET_KEY") or DEFAULT_SECRET_KEY,
            host=e.get("YOOKASSA_SANDBOX_HOST") or DEFAULT_HOST,
            port=int(e.get("YOOKASSA_SANDBOX_PORT") or DEFAULT_PORT),
            webhook_url=e.get("YOOKASSA_SANDBOX_WEBHOOK_URL") or None,
            webhook_retry_scale=_env_float(e, "YOOKASSA_SANDBOX_WEBHOOK_RETRY_SCALE", 1.0),
            webhook_retry_window=_env_float(e, "YOOKASSA_SANDBOX_WEBHOOK_RETRY_WINDOW", 24 * 3600.0),
            webhook_timeout=_env_float(e, "YOOKASSA_SANDBOX_WEBHOOK_TIMEOUT", 10.0),
            confirmation_ttl=_env_float(e, "YOOKASSA_SANDBOX_CONFIRMATION_TTL", 3600.0),
            capture_ttl=_env_float(e, "YOOKASSA_SANDBOX_CAPTURE_TTL", 7 * 24 * 3600.0),
            idempotence_ttl=_env_float(e, "YOOKASSA_SANDBOX_IDEMPOTENCE_TTL", 24 * 3600.0),
            currency=e.get("YOOKASSA_SANDBOX_CURRENCY") or "RUB",
            gateway_id=e.get("YOOKASSA_SANDBOX_GATEWAY_ID") or "",
            https=_env_bool(e, "YOOKASSA_SANDBOX_HTTPS"),
            certfile=e.get("YOOKASSA_SANDBOX_CERTFILE") or None,
            keyfile=e.get("YOOKASSA_SANDBOX_KEYFILE") or None,
            cert_dir=e.get("YOOKASSA_SANDBOX_CERT_DIR") or None,
            journal_max=int(e.get("YOOKASSA_SANDBOX_JOURNAL_MAX") or 1_000_000),
            log_level=e.get("YOOKASSA_SANDBOX_LOG_LEVEL") or "warning",
            fiscalization=e.get("YOOKASSA_SANDBOX_FISCALIZATION", "1").strip().lower() not in _OFF,
            receipt_delay=_env_float(e, "YOOKASSA_SANDBOX_RECEIPT_DELAY", 1.0),
        )
        if not s.gateway_id:
            s.gateway_id = f"{s.shop_id}01"
        s.public_url = (e.get("YOOKASSA_SANDBOX_PUBLIC_URL") or f"{s.scheme}://{s.host}:{s.port}").rstrip("/")
        return s
