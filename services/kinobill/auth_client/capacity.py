"""How many subscriptions fit in Auth's access token: measured with real PyJWT encoding.

For each signing algorithm Auth may use (RS256 with a 2048-bit key, ES256 on P-256, HS256 with a
32-byte secret) and each claim format considered, it signs a realistic Auth payload carrying N
subscriptions and finds, by exponential then binary search, the largest N whose token still fits:

* ``cookie-4k``: a cookie of 4,096 bytes, counting ``access_token=`` + token (browsers cap a cookie's
  name plus value at 4,096 bytes and drop larger ones silently);
* ``nginx-8k``: one of nginx's default ``large_client_header_buffers 4 8k``: the whole line
  ``Authorization: Bearer <token>\\r\\n`` must fit in 8,192 bytes, or nginx answers 400;
* ``header-16k``: the same line against 16,384 bytes (a proxy tuned up, e.g. nginx ``16k`` buffers).

Run: ``python -m kinobill.auth_client.capacity [--format table|json]`` (or ``kinobill jwt-capacity``).
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .claim import CLAIM_NAME, encode_claim

ALGORITHMS = ("RS256", "ES256", "HS256")

ISSUED_AT = 1_780_000_000  # 2026-05-28: fixed so that runs are comparable
TOKEN_LIFETIME = 15 * 60

PLAN_CODES = (
    "premium", "kids_plus", "sport_hd", "movies_max", "serials", "family_4k", "ultra_hd", "anime_club",
    "documentary", "music_live", "classics", "cartoons", "football", "hockey_khl", "retro_tv",
    "indie_film", "horror_box", "comedy_club", "drama_max", "scifi_plus", "premieres", "start_kids",
    "amediateka", "match_plus",
)  # fmt: skip
"""Realistic slugs of 6-12 characters (mean ~9.5); entry i > 23 reuses one with a numeric suffix."""


@dataclass(frozen=True)
class Limit:
    name: str
    max_bytes: int
    prefix: str
    suffix: str
    description: str

    def cost(self, token: str) -> int:
        return len((self.prefix + token + self.suffix).encode())

    def fits(self, token: str) -> bool:
        return self.cost(token) <= self.max_bytes


LIMITS = (
    Limit("cookie-4k", 4096, "access_token=", "", "browser cookie, name + value <= 4096 B"),
    Limit("nginx-8k", 8192, "Authorization: Bearer ", "\r\n", "nginx large_client_header_buffers 8k"),
    Limit("header-16k", 16384, "Authorization: Bearer ", "\r\n", "header line <= 16 KiB"),
)


def plan_code(i: int, length: int | None = None) -> str:
    """The i-th distinct plan code; with ``length``, padded/cut to exactly that many characters."""
    if length is not None:
        return f"p{i}".ljust(length, "x")
    base = PLAN_CODES[i % len(PLAN_CODES)]
    return base if i < len(PLAN_CODES) else f"{base[:9]}{i // len(PLAN_CODES)}"


def sample_items(n: int, *, code_length: int | None = None) -> list[tuple[str, int]]:
    """N subscriptions of distinct plans, access until 1 day to ~1 year after issue, odd seconds."""
    return [
        (plan_code(i, code_length), ISSUED_AT + 86_400 * (1 + (i * 37) % 365) + (i * 613) % 86_400)
        for i in range(n)
    ]


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


ClaimFormat = Callable[[list[tuple[str, int]]], Any]

FORMATS: dict[str, tuple[ClaimFormat, str]] = {
    "objects": (
        lambda items: [{"plan": p, "until": u} for p, u in items],
        '[{"plan":"premium","until":1767225600}]',
    ),
    "objects-short-keys": (
        lambda items: [{"p": p, "u": u} for p, u in items],
        '[{"p":"premium","u":1767225600}]',
    ),
    "strings": (lambda items: [f"{p}:{u}" for p, u in items], '["premium:1767225600"]'),
    "string (chosen)": (lambda items: encode_claim(items), '"premium:1767225600 kids:1769904000"'),
    "string-base36": (lambda items: " ".join(f"{p}:{_base36(u)}" for p, u in items), '"premium:t85s00"'),
    "string-days": (lambda items: " ".join(f"{p}:{u // 86_400}" for p, u in items), '"premium:20454"'),
}
CHOSEN = "string (chosen)"


@cache
def signing_key(algorithm: str) -> Any:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "HS256":
        return b"k" * 32  # the value doesn't change the size; a real secret is 32 random bytes
    raise ValueError(f"unsupported algorithm {algorithm!r}")


def verification_key(algorithm: str) -> Any:
    key = signing_key(algorithm)
    return key if isinstance(key, bytes) else key.public_key()


def auth_payload(claim: dict[str, Any]) -> dict[str, Any]:
    """What Auth's access token carries besides our claim (typical lengths)."""
    return {
        "iss": "https://auth.kinobill.ru",
        "sub": str(uuid.UUID(int=0x6F1C2D3E4A5B4C6D8E9F0A1B2C3D4E5F)),
        "aud": "kinobill-api",
        "exp": ISSUED_AT + TOKEN_LIFETIME,
        "iat": ISSUED_AT,
        "nbf": ISSUED_AT,
        "jti": str(uuid.UUID(int=0x1D2C3B4A59684F7E8D9CAABBCCDDEEFF)),
        "roles": ["user"],
        "email": "konstantin.petrov84@gmail.com",
        **claim,
    }


def make_token(algorithm: str, n: int, fmt: str = CHOSEN, *, code_length: int | None = None) -> str:
    encode_fmt = FORMATS[fmt][0]
    payload = auth_payload({CLAIM_NAME: encode_fmt(sample_items(n, code_length=code_length))})
    return jwt.encode(payload, signing_key(algorithm), algorithm=algorithm, headers={"kid": "auth-2026-05"})


def max_entries(fits: Callable[[int], bool]) -> int:
    """Largest n >= 0 with ``fits(n)``, assuming ``fits`` is monotone; -1 when not even 0 fits."""
    if not fits(0):
        return -1
    lo, hi = 0, 1
    while fits(hi):
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # fits(lo) and not fits(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


@dataclass(frozen=True)
class Capacity:
    algorithm: str
    format: str
    limit: str
    limit_bytes: int
    max_n: int
    cost_at_max: int
    cost_at_max_plus_1: int


def measure(algorithm: str, fmt: str, limit: Limit, *, code_length: int | None = None) -> Capacity:
    def fits(n: int) -> bool:
        return limit.fits(make_token(algorithm, n, fmt, code_length=code_length))

    n = max_entries(fits)
    return Capacity(
        algorithm=algorithm,
        format=fmt,
        limit=limit.name,
        limit_bytes=limit.max_bytes,
        max_n=n,
        cost_at_max=limit.cost(make_token(algorithm, n, fmt, code_length=code_length)) if n >= 0 else 0,
        cost_at_max_plus_1=limit.cost(make_token(algorithm, n + 1, fmt, code_length=code_length)),
    )


def run(formats: Sequence[str] = tuple(FORMATS)) -> dict[str, Any]:
    chosen = [measure(alg, CHOSEN, lim) for alg in ALGORITHMS for lim in LIMITS]
    sizes = {alg: {str(n): len(make_token(alg, n)) for n in (0, 1, 10, 32)} for alg in ALGORITHMS}
    worst_case = {
        alg: len(make_token(alg, 32, code_length=32)) for alg in ALGORITHMS
    }  # the client's default cap with the longest allowed plan codes
    comparison = []
    for fmt in formats:
        per_entry = (len(make_token("RS256", 100, fmt)) - len(make_token("RS256", 0, fmt))) / 100
        cookie = measure("RS256", fmt, LIMITS[0])
        comparison.append(
            {
                "format": fmt,
                "example": FORMATS[fmt][1],
                "token_bytes_per_entry": round(per_entry, 1),
                "rs256_cookie_max_n": cookie.max_n,
                "rs256_nginx_max_n": measure("RS256", fmt, LIMITS[1]).max_n,
            }
        )
    return {
        "payload_without_claim": auth_payload({}),
        "limits": [asdict(lim) for lim in LIMITS],
        "capacity": [asdict(c) for c in chosen],
        "token_bytes": sizes,
        "token_bytes_32_entries_32_char_codes": worst_case,
        "formats": comparison,
    }


def render_table(result: dict[str, Any]) -> str:
    lines = ["Max subscriptions in the claim (format: one string, decimal epoch seconds)", ""]
    names = [lim["name"] for lim in result["limits"]]
    lines.append(f"| algorithm | {' | '.join(names)} | token, 1 sub | token, 10 subs |")
    lines.append("|---|" + "---:|" * (len(names) + 2))
    by_key = {(c["algorithm"], c["limit"]): c for c in result["capacity"]}
    for alg in ALGORITHMS:
        cells = [str(by_key[(alg, name)]["max_n"]) for name in names]
        sizes = result["token_bytes"][alg]
        lines.append(f"| {alg} | {' | '.join(cells)} | {sizes['1']} B | {sizes['10']} B |")
    lines += ["", "Claim formats compared (RS256)", ""]
    lines.append("| format | example | B/entry in token | max N cookie-4k | max N nginx-8k |")
    lines.append("|---|---|---:|---:|---:|")
    for row in result["formats"]:
        lines.append(
            f"| {row['format']} | `{row['example']}` | {row['token_bytes_per_entry']} "
            f"| {row['rs256_cookie_max_n']} | {row['rs256_nginx_max_n']} |"
        )
    worst = result["token_bytes_32_entries_32_char_codes"]
    lines += [
        "",
        "Token bytes with no claim entries: "
        + ", ".join(f"{alg} {result['token_bytes'][alg]['0']}" for alg in ALGORITHMS),
        "Token bytes at the client's cap (32 entries) with 32-char plan codes: "
        + ", ".join(f"{alg} {worst[alg]}" for alg in ALGORITHMS),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kinobill jwt-capacity", description="How many subscriptions fit in an access token."
    )
    parser.add_argument("--format", choices=("table", "json"), default="table")
    args = parser.parse_args(argv)
    result = run()
    if args.format == "json":
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render_table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
