"""JWT verification for users (issued by Auth) and services, and key/token minting for local use.

User tokens: RS256, audience `kinobill` (configurable), `sub` = user id, optional `email`, `locale` and
`zoneinfo` (the reader's language and time zone, docs/i18n.md).
Service tokens: RS256, audience `kinobill-internal`, `sub` = `service:<name>`.
Production verifies only; `kinobill token` mints tokens with the local keys under KINOBILL_HOME/keys.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kinobill.config import Settings
from kinobill.domain.addresses import email_address_problem
from kinobill.i18n.locales import supported_locale, valid_zone

LEEWAY_SECONDS = 30


class AuthenticationError(Exception):
    """The bearer token is missing, malformed, expired, wrongly signed or for another audience."""


class InvalidEmailClaim(ValueError):
    """The token is good but its `email` claim is no address mail could go to (CR/LF, `a@`, too long)."""


@dataclass(frozen=True)
class UserPrincipal:
    user_id: uuid.UUID
    email: str | None
    # The reader's language and zone from the `locale` and `zoneinfo` claims, when valid (docs/i18n.md).
    locale: str | None = None
    zoneinfo: str | None = None


@dataclass(frozen=True)
class ServicePrincipal:
    name: str


class Caller(StrEnum):
    """The service identities (a service token's `sub` is `service:<value>`); see kinobill.callers."""

    ADMIN = "admin"
    SUBSCRIPTIONS = "subscriptions"
    BILLING = "billing"
    AUTH = "auth"


class TokenVerifier:
    """Verifies bearer tokens against a PEM public key or a JWKS URL (cached by PyJWKClient)."""

    def __init__(self, *, public_pem: str, jwks_url: str, audience: str, issuer: str = "") -> None:
        if not public_pem and not jwks_url:
            raise ValueError("no JWT public key configured (set a PEM or a JWKS URL)")
        self._key = serialization.load_pem_public_key(public_pem.encode()) if public_pem else None
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300) if jwks_url else None
        self._audience = audience
        self._issuer = issuer or None

    def decode(self, token: str) -> dict:
        try:
            key = self._key if self._key is not None else self._jwks.get_signing_key_from_jwt(token).key  # type: ignore[union-attr]
            return jwt.decode(
                token,
                key,  # type: ignore[arg-type]
                algorithms=["RS256"],
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthenticationError(str(exc)) from exc


class VerifiedTokenCache:
    """Remembers tokens that verified, by their exact string, until their ``exp``.

    Services present the same long-lived token on every call, so an RS256 verification per request
    (~50-100 us of CPU) buys nothing after the first one. Only successes are cached; an entry is
    used strictly before ``exp`` (no leeway). Bounded: when full it is emptied and refilled.
    """

    def __init__(self, verifier: TokenVerifier, max_entries: int = 1024) -> None:
        self.verifier = verifier
        self.max_entries = max_entries
        self._claims: dict[str, tuple[float, dict]] = {}

    def decode(self, token: str) -> dict:
        hit = self._claims.get(token)
        if hit is not None and time.time() < hit[0]:
            return hit[1]
        claims = self.verifier.decode(token)
        if len(self._claims) >= self.max_entries:
            self._claims.clear()
        self._claims[token] = (float(claims["exp"]), claims)
        return claims


def user_verifier(settings: Settings) -> TokenVerifier:
    return TokenVerifier(
        public_pem=settings.user_jwt_public_pem,
        jwks_url=settings.jwt_jwks_url,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )


def service_verifier(settings: Settings) -> TokenVerifier:
    return TokenVerifier(
        public_pem=settings.service_jwt_public_pem, jwks_url="", audience=settings.service_jwt_audience
    )


def user_from_claims(claims: dict) -> UserPrincipal:
    try:
        user_id = uuid.UUID(str(claims["sub"]))
    except ValueError as exc:
        raise AuthenticationError("token subject is not a user id") from exc
    email = claims.get("email")
    if email is not None:
        problem = email_address_problem(email)
        if problem:
            raise InvalidEmailClaim(problem)
    return UserPrincipal(
        user_id=user_id,
        email=email,
        locale=supported_locale(claims.get("locale")),
        zoneinfo=valid_zone(claims.get("zoneinfo")),
    )


def service_from_claims(claims: dict) -> ServicePrincipal:
    sub = str(claims["sub"])
    if not sub.startswith("service:"):
        raise AuthenticationError("not a service token")
    return ServicePrincipal(name=sub.removeprefix("service:"))


# --- local keys and minting (dev/test only) ---------------------------------------------------


@dataclass(frozen=True)
class LocalKeys:
    directory: Path

    @property
    def user_private(self) -> Path:
        return self.directory / "auth-private.pem"

    @property
    def user_public(self) -> Path:
        return self.directory / "auth-public.pem"

    @property
    def service_private(self) -> Path:
        return self.directory / "service-private.pem"

    @property
    def service_public(self) -> Path:
        return self.directory / "service-public.pem"

    def ensure(self) -> LocalKeys:
        self.directory.mkdir(parents=True, exist_ok=True)
        for private, public in (
            (self.user_private, self.user_public),
            (self.service_private, self.service_public),
        ):
            if not private.exists():
                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                private.write_bytes(
                    key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    )
                )
                private.chmod(0o600)
                public.write_bytes(
                    key.public_key().public_bytes(
                        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                    )
                )
        return self


def mint_user_token(
    private_pem: bytes | rsa.RSAPrivateKey,
    user_id: uuid.UUID,
    *,
    email: str | None = None,
    audience: str = "kinobill",
    ttl: int = 3600,
    **extra: object,
) -> str:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": str(user_id),
        "aud": audience,
        "iat": now,
        "exp": now + ttl,
        "jti": str(uuid.uuid4()),
        **extra,
    }
    if email:
        claims["email"] = email
    return jwt.encode(claims, private_pem, algorithm="RS256")


def mint_service_token(
    private_pem: bytes | rsa.RSAPrivateKey,
    name: str,
    *,
    audience: str = "kinobill-internal",
    ttl: int = 30 * 24 * 3600,
) -> str:
    now = int(time.time())
    claims = {"sub": f"service:{name}", "aud": audience, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, private_pem, algorithm="RS256")
