"""YooKassa's documented test cards and the outcome each one dictates.

Source: the "Testing" page of the YooKassa documentation.
Any future expiry date, any CSC and any 3-D Secure code are accepted for every card.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SUCCEEDED = "succeeded"

# every payment cancellation reason of the official spec (PaymentCancellationDetails.reason)
PAYMENT_CANCEL_REASONS = frozenset(
    {
        "3d_secure_failed",
        "call_issuer",
        "card_expired",
        "payment_method_limit_exceeded",
        "payment_method_restricted",
        "country_forbidden",
        "general_decline",
        "fraud_suspected",
        "identification_required",
        "insufficient_funds",
        "invalid_card_number",
        "invalid_csc",
        "issuer_unavailable",
        "canceled_by_merchant",
        "permission_revoked",
        "internal_timeout",
        "expired_on_confirmation",
        "expired_on_capture",
        "unsupported_mobile_operator",
        "deal_expired",
    }
)

# reasons decided by YooKassa itself rather than by the issuer / card network
YOO_MONEY_REASONS = frozenset(
    {"permission_revoked", "country_forbidden", "identification_required", "internal_timeout", "deal_expired"}
)


def default_party(reason: str) -> str:
    if reason == "canceled_by_merchant":
        return "merchant"
    if reason in YOO_MONEY_REASONS or reason.startswith("expired_on_"):
        return "yoo_money"
    return "payment_network"


@dataclass(frozen=True)
class TestCard:
    number: str
    three_ds: bool
    outcome: str  # "succeeded" or a cancellation reason
    party: str | None = None  # set for declines


def _decline(reason: str, party: str = "payment_network") -> tuple[bool, str, str]:
    return (reason == "3d_secure_failed", reason, party)


_TABLE: dict[str, tuple[bool, str, str | None]] = {}
for _n in ("5555555555554477", "4793128161644804", "2200000000000004"):
    _TABLE[_n] = (True, SUCCEEDED, None)
for _n in (
    "5555555555554444",
    "4111111111111111",
    "2202474301322987",
    "6759649826438453",
    "4175001000000017",
    "370000000000002",
    "3528000700000000",
    "36700102000000",
):
    _TABLE[_n] = (False, SUCCEEDED, None)
_DECLINES: dict[tuple[str, str], tuple[str, str, str]] = {
    ("3d_secure_failed", "payment_network"): ("5555555555554592", "4839665499603842", "2200000000000012"),
    ("call_issuer", "payment_network"): ("5555555555554535", "4926946416239025", "2200000000000020"),
    ("card_expired", "payment_network"): ("5555555555554543", "4141435412630840", "2200000000000038"),
    ("fraud_suspected", "payment_network"): ("5555555555554568", "4483274282299972", "2200000000000046"),
    ("general_decline", "payment_network"): ("5555555555554527", "4889971706588753", "2202202212312379"),
    ("insufficient_funds", "payment_network"): ("5555555555554600", "4562265587712390", "2200000000000053"),
    ("invalid_card_number", "payment_network"): ("5555555555554618", "4951017853630544", "2201382000000013"),
    ("invalid_csc", "payment_network"): ("5555555555554626", "4194180666146368", "2200770212727079"),
    ("issuer_unavailable", "payment_network"): ("5555555555554501", "4654130848359150", "2201382000000021"),
    ("payment_method_limit_exceeded", "payment_network"): (
        "5555555555554576",
        "4565231022577548",
        "2201382000000039",
    ),
    ("payment_method_restricted", "payment_network"): (
        "5555555555554550",
        "4233961169071671",
        "2201382000000047",
    ),
    ("country_forbidden", "yoo_money"): ("5555555555554584", "4969751510013864", "2201382000000054"),
    ("fraud_suspected", "yoo_money"): ("5555555555554634", "4119098878796485", "2201696981989955"),
}
for (_reason, _party), _numbers in _DECLINES.items():
    for _n in _numbers:
        _TABLE[_n] = _decline(_reason, _party)

TEST_CARDS: dict[str, TestCard] = {
    number: TestCard(number, three_ds, outcome, party)
    for number, (three_ds, outcome, party) in _TABLE.items()
}

# one (Mastercard) example card per decline, keyed by (reason, party) — handy for tests
DECLINE_CARDS: dict[tuple[str, str], str] = {key: numbers[0] for key, numbers in _DECLINES.items()}

_DIGITS = re.compile(r"[0-9]{12,19}")


def normalise_number(raw: str) -> str:
    return re.sub(r"[\s-]", "", raw or "")


def lookup(number: str) -> TestCard | None:
    return TEST_CARDS.get(normalise_number(number))


def looks_like_card(number: str) -> bool:
    return bool(_DIGITS.fullmatch(normalise_number(number)))


def card_type(number: str) -> str:
    """The ``BankCardType`` of a number, by its BIN range."""
    n = normalise_number(number)
    if n.startswith("4"):
        return "Visa"
    if n[:4].isdigit() and 2200 <= int(n[:4]) <= 2204:
        return "Mir"
    if n[:2] in ("51", "52", "53", "54", "55") or (n[:4].isdigit() and 2221 <= int(n[:4]) <= 2720):
        return "MasterCard"
    if n[:2] in ("50", "56", "57", "58", "67") or n.startswith("6759"):
        return "MasterCard"  # Maestro is reported as MasterCard
    if n[:2] in ("34", "37"):
        return "AmericanExpress"
    if n[:2] == "35":
        return "JCB"
    if n[:2] in ("30", "36", "38"):
        return "DinersClub"
    if n[:2] == "62":
        return "UnionPay"
    return "Unknown"
