"""Money: integer kopecks, currency RUB, never floats.

Rule: every amount inside the system is an ``int`` number of kopecks (``Kopecks``). Amounts enter
through :func:`parse_rub` (API input, admin forms, config) and leave through :func:`format_rub`
(JSON strings with exactly two decimals, as the API shapes require) or :func:`to_decimal`
(YooKassa's ``amount.value``).

Accepted by :func:`parse_rub`:

* ``str`` in plain decimal notation: ``"299"``, ``"299.5"``, ``"299.50"``, ``"0.01"``; surrounding
  whitespace is ignored. At most two digits after the point *as written* (``"299.500"`` is rejected,
  so a client cannot smuggle sub-kopeck precision); no sign, exponent, thousands separators or comma.
* ``Decimal``: finite, not negative, and exact to the kopeck by *value* (``Decimal("1.100")`` — a
  typical result of Decimal arithmetic — is fine, ``Decimal("1.005")`` is not).
* ``int``: whole roubles (``299`` → ``29900``). ``bool`` is rejected.
* ``float`` is always rejected: its binary value is not the decimal the caller meant.

Every amount must lie in ``0 .. MAX_AMOUNT`` (10 000 000.00 RUB inclusive); anything else raises
:class:`InvalidAmount`. Zero parses (a refund quote may be zero); the plan rules demand more.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import TypeAlias

from kinobill.domain.errors import InvalidAmount

Kopecks: TypeAlias = int

CURRENCY = "RUB"
KOPECKS_PER_RUB = 100
MAX_AMOUNT: Kopecks = 10_000_000 * KOPECKS_PER_RUB  # 10 000 000.00 RUB, inclusive

_MAX_INPUT_LENGTH = 32
_AMOUNT_RE = re.compile(r"(?P<rub>[0-9]+)(?:\.(?P<kop>[0-9]{1,2}))?")
_KOPECK = Decimal("0.01")


def _check_range(kopecks: int, shown: object) -> Kopecks:
    if kopecks < 0:
        raise InvalidAmount(f"Amount must not be negative: {shown!r}.")
    if kopecks > MAX_AMOUNT:
        raise InvalidAmount(f"Amount is larger than {format_rub(MAX_AMOUNT)} RUB: {shown!r}.")
    return kopecks


def _parse_str(value: str) -> Kopecks:
    text = value.strip()
    if len(text) > _MAX_INPUT_LENGTH:
        raise InvalidAmount("Amount is too long to be a RUB amount.")
    if text.startswith("-") and _AMOUNT_RE.fullmatch(text[1:]):
        raise InvalidAmount(f"Amount must not be negative: {value!r}.")
    match = _AMOUNT_RE.fullmatch(text)
    if match is None:
        if re.fullmatch(r"-?[0-9]+\.[0-9]{3,}", text):
            raise InvalidAmount(f"Amount has more than two decimals: {value!r}.")
        raise InvalidAmount(f"Amount is not a decimal number like '299.00': {value!r}.")
    rub = int(match["rub"])
    kop = int((match["kop"] or "0").ljust(2, "0"))
    if rub > MAX_AMOUNT:  # keep the arithmetic small; _check_range gives the message
        return _check_range(MAX_AMOUNT + 1, value)
    return _check_range(rub * KOPECKS_PER_RUB + kop, value)


def _parse_decimal(value: Decimal) -> Kopecks:
    if not value.is_finite():
        raise InvalidAmount(f"Amount must be a finite number: {value!r}.")
    if value < 0:
        raise InvalidAmount(f"Amount must not be negative: {value!r}.")
    if value > Decimal(MAX_AMOUNT) / KOPECKS_PER_RUB:
        return _check_range(MAX_AMOUNT + 1, value)
    try:
        quantized = value.quantize(_KOPECK)
    except InvalidOperation as exc:  # pragma: no cover - guarded by the range check above
        raise InvalidAmount(f"Amount is not a valid RUB amount: {value!r}.") from exc
    if quantized != value:
        raise InvalidAmount(f"Amount has more than two decimals: {value!r}.")
    return _check_range(int(quantized * KOPECKS_PER_RUB), value)


def parse_rub(value: str | Decimal | int) -> Kopecks:
    """Parse a RUB amount (roubles, up to two decimals) into kopecks; see the module docstring."""
    if isinstance(value, bool):
        raise InvalidAmount("Amount must be a number, not a boolean.")
    if isinstance(value, float):
        raise InvalidAmount("Amount must not be a float; send a decimal string like '299.00'.")
    if isinstance(value, int):
        if value > MAX_AMOUNT:
            return _check_range(MAX_AMOUNT + 1, value)
        return _check_range(value * KOPECKS_PER_RUB, value)
    if isinstance(value, Decimal):
        return _parse_decimal(value)
    if isinstance(value, str):
        return _parse_str(value)
    raise InvalidAmount(f"Amount must be a decimal string, Decimal or int, not {type(value).__name__}.")


def _require_int(kopecks: object) -> int:
    if isinstance(kopecks, bool) or not isinstance(kopecks, int):
        raise TypeError(f"kopecks must be an int, not {type(kopecks).__name__}")
    return kopecks


def format_rub(kopecks: Kopecks) -> str:
    """Kopecks → ``"299.00"`` (always two decimals, no separators; negatives get a leading ``-``)."""
    value = _require_int(kopecks)
    sign = "-" if value < 0 else ""
    rub, kop = divmod(abs(value), KOPECKS_PER_RUB)
    return f"{sign}{rub}.{kop:02d}"


def to_decimal(kopecks: Kopecks) -> Decimal:
    """Kopecks → ``Decimal`` with exactly two places (``29900`` → ``Decimal("299.00")``)."""
    return Decimal(_require_int(kopecks)).scaleb(-2)


__all__ = ["CURRENCY", "KOPECKS_PER_RUB", "MAX_AMOUNT", "Kopecks", "format_rub", "parse_rub", "to_decimal"]
