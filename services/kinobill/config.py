"""Settings shared by every Kinobill process, read from the environment (pydantic-settings).

The names are the contract with operators and charts: DATABASE_URL, REDIS_URL, YOOKASSA_*, SMTP_*,
KINOBILL_ENV. Locally `kinobill run` fills them with embedded defaults.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kinobill.database_url import ConnectionPolicy
from kinobill.domain.receipts import ReceiptPolicy
from kinobill.i18n.locales import LocaleZone


class Environment(StrEnum):
    DEV = "dev"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    kinobill_env: Environment = Environment.DEV
    kinobill_home: Path = Path(".kinobill")

    database_url: str = ""
    redis_url: str = ""

    yookassa_shop_id: str = "100500"
    yookassa_secret_key: str = "test_kinobill_sandbox_key"
    yookassa_api_url: str = "http://127.0.0.1:8010/v3"
    yookassa_timeout_seconds: float = 10.0
    # YooKassa's published notification networks; loopback is added outside production.
    yookassa_webhook_networks: str = (
        "185.71.76.0/27,185.71.77.0/27,77.75.153.0/25,77.75.156.11/32,77.75.156.35/32,"
        "77.75.154.128/25,2a02:5180::/32"
    )
    # CIDRs of our own reverse proxies: only their X-Forwarded-For is believed (empty: nobody's).
    trusted_proxies: str = ""

    # Request size limits (kinobill.limits): 413 / 431 before a body is read.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, alias="KINOBILL_MAX_BODY_BYTES")
    max_webhook_body_bytes: int = Field(default=1024 * 1024, ge=1024, alias="KINOBILL_MAX_WEBHOOK_BODY_BYTES")
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, alias="KINOBILL_MAX_HEADER_BYTES")

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    mail_from: str = "Kinobill <billing@kinobill.local>"

    # Bearer JWTs issued by Auth (RS256). Either a PEM (inline or a file) or a JWKS URL.
    jwt_public_key: str = ""
    jwt_public_key_file: Path | None = None
    jwt_jwks_url: str = ""
    jwt_audience: str = "kinobill"
    jwt_issuer: str = ""
    # Internal service tokens: RS256 JWTs with audience `kinobill-internal`.
    service_jwt_public_key: str = ""
    service_jwt_public_key_file: Path | None = None
    service_jwt_audience: str = "kinobill-internal"

    # The bearer token this process presents to the other service's internal API.
    service_token: str = Field(default="", alias="KINOBILL_SERVICE_TOKEN")

    subscriptions_url: str = "http://127.0.0.1:8001"
    billing_url: str = "http://127.0.0.1:8002"
    public_subscriptions_url: str = ""
    public_billing_url: str = ""

    test_clock_enabled: bool = Field(default=False, alias="KINOBILL_TEST_CLOCK")

    # How long a request holding an Idempotency-Key blocks its retries (409) before a retry may take over.
    idempotency_lock_seconds: float = Field(default=30.0, alias="KINOBILL_IDEMPOTENCY_LOCK_SECONDS")

    # The renewal scheduler's policy as a JSON mapping (RenewalPolicy.from_mapping: interval, renewal_lead,
    # reminder_days, batch_size, dunning_schedule, grace_period); empty = the defaults of docs/design.md.
    renewal_policy: str = Field(default="", alias="KINOBILL_RENEWAL_POLICY")

    abandon_purchase_after_seconds: float = Field(
        default=7200.0, alias="KINOBILL_ABANDON_PURCHASE_AFTER_SECONDS"
    )
    mail_claim_seconds: float = Field(default=60.0, alias="KINOBILL_MAIL_CLAIM_SECONDS")

    # What a reader sees when neither their token nor their browser names a supported language or a valid
    # zone (docs/i18n.md): a supported locale (ru, en) and a tz database name.
    default_locale: str = Field(default="ru", alias="KINOBILL_DEFAULT_LOCALE")
    default_timezone: str = Field(default="Europe/Moscow", alias="KINOBILL_DEFAULT_TIMEZONE")

    # 54-FZ receipts on every payment and refund (a shop with "Чеки от ЮKassa" or a cloud register):
    # on/off, the VAT code of the subscription (1..12, YooKassa's table; 1 = no VAT) and the tax system
    # (1..6) for registers that need it (unset: not sent).
    receipts_enabled: bool = Field(default=True, alias="KINOBILL_RECEIPTS")
    receipt_vat_code: int = Field(default=1, ge=1, le=12, alias="KINOBILL_RECEIPT_VAT_CODE")
    receipt_tax_system_code: int | None = Field(
        default=None, ge=1, le=6, alias="KINOBILL_RECEIPT_TAX_SYSTEM_CODE"
    )

    db_pool_size: int = 10
    db_max_overflow: int = 20
    db_pool_pre_ping: bool = True
    # Per host of DATABASE_URL (libpq connect_timeout); and the server-side statement_timeout (0 = none).
    db_connect_timeout: int = 3
    db_statement_timeout_ms: int = 30_000
    # How long a request waits for a pooled connection before it is answered 503.
    db_pool_timeout_seconds: float = 5.0

    # Crash injection for the crash tests: "point1,point2" makes the process os._exit at those points.
    crash_points: str = Field(default="", alias="KINOBILL_CRASH_POINTS")

    @model_validator(mode="after")
    def _production_guards(self) -> Settings:
        from kinobill.production import refusal, unsafe_settings

        if self.kinobill_env is Environment.PRODUCTION and (problems := unsafe_settings(self)):
            raise ValueError(refusal(problems))
        return self

    @model_validator(mode="after")
    def _reader_default(self) -> Settings:
        LocaleZone(self.default_locale, self.default_timezone)  # ValueError names what is wrong
        return self

    @property
    def reader_default(self) -> LocaleZone:
        """The deployment's default language and time zone for e-mails and pages."""
        return LocaleZone(self.default_locale, self.default_timezone)

    def read_pem(self, inline: str, file: Path | None) -> str:
        if inline:
            return inline.replace("\\n", "\n")
        if file:
            return Path(file).read_text()
        return ""

    @property
    def db_connection_policy(self) -> ConnectionPolicy:
        return ConnectionPolicy(
            connect_timeout_seconds=self.db_connect_timeout, statement_timeout_ms=self.db_statement_timeout_ms
        )

    @property
    def user_jwt_public_pem(self) -> str:
        return self.read_pem(self.jwt_public_key, self.jwt_public_key_file)

    @property
    def service_jwt_public_pem(self) -> str:
        return self.read_pem(self.service_jwt_public_key, self.service_jwt_public_key_file)

    @property
    def receipt_policy(self) -> ReceiptPolicy:
        return ReceiptPolicy(self.receipts_enabled, self.receipt_vat_code, self.receipt_tax_system_code)

    @property
    def subscriptions_public_url(self) -> str:
        return self.public_subscriptions_url or self.subscriptions_url

    @property
    def billing_public_url(self) -> str:
        return self.public_billing_url or self.billing_url


@lru_cache
def get_settings() -> Settings:
    return Settings()
