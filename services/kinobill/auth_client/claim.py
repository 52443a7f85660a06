"""The compact JWT claim that carries a user's active subscriptions.

Format (claim name ``subs``, one JSON string)::

    "subs": "kids:1769904000 premium:1767225600"

* entries are separated by ONE space, sorted by plan code, one entry per plan code;
* an entry is ``<plan_code>:<access_until>``, where ``plan_code`` is the plan's slug
  (``[a-z0-9][a-z0-9_-]*``, at most 32 characters, never containing ``:`` or a space) and
  ``access_until`` is the end of access as integer Unix epoch seconds (UTC), written in decimal;
* access is granted while ``now < access_until`` (the instant itself is already outside);
* an empty string means "no active subscription"; a missing claim means "not known from the token"
  (see ``subs_ref`` in :mod:`kinobill.auth_client.client`).

Why this one (measured by ``kinobill.auth_client.capacity``; bytes are what one entry adds to the
*encoded* token, i.e. after base64url, with plan codes of 6-12 characters):

================================  ========================================  ===========
format                            example                                   bytes/entry
================================  ========================================  ===========
list of objects                   ``[{"plan":"premium","until":1767225600}]``      54
list of objects, 1-letter keys    ``[{"p":"premium","u":1767225600}]``             45
list of strings                   ``["premium:1767225600"]``                       31
one string, decimal (chosen)      ``"premium:1767225600 kids:1769904000"``         29
one string, base36 epoch seconds  ``"premium:t85s00"``                             23
one string, days since 1970       ``"premium:20454"``                              22
================================  ========================================  ===========

The single string drops the per-entry JSON quotes and commas. Base36 or day numbers would save
another ~20 %, but:

* days are not exact: access ends mid-day (periods are anchor-preserving from the purchase
  instant), so rounding either grants up to a day of free access or cuts up to a day of paid access;
* base36 makes the token unreadable on jwt.io / in logs, and support staff do read these tokens;
* the chosen format already fits 116 entries in a 4 KiB cookie with RS256, where a real user
  holds a handful; the extra 20 % buys nothing a user will notice, readability is paid for every day.

Decimal epoch seconds are unambiguous (no time zone, no calendar), are what ``exp``/``iat`` already
use in the same token, and ``date -d @1767225600`` reads them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

CLAIM_NAME = "subs"
"""The JWT claim that holds the encoded string."""

REF_CLAIM_NAME = "subs_ref"
"""Set instead of ``subs`` when a user holds more subscriptions than a token should carry."""

PLAN_CODE_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_ENTRY_RE = re.compile(r"([a-z0-9][a-z0-9_-]{0,31}):(0|[1-9][0-9]{0,11})")


class ClaimFormatError(ValueError):
    """A claim value (or an item to encode) does not follow the format above."""


@dataclass(frozen=True, order=True)
class ClaimEntry:
    """One decoded entry: access to ``plan_code`` lasts until ``access_until`` (epoch seconds, exclusive)."""

    plan_code: str
    access_until: int

    @property
    def access_until_dt(self) -> datetime:
        return datetime.fromtimestamp(self.access_until, tz=UTC)


def to_epoch(value: datetime | int | float) -> int:
    """Epoch seconds, rounded DOWN (never grants a fraction of a second that was not paid for)."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ClaimFormatError(f"naive datetime {value!r}: access_until needs a UTC offset")
        return math.floor(value.timestamp())
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ClaimFormatError(f"not a time: {value!r}")
    return math.floor(value)


def _item_fields(item: Any) -> tuple[str, Any]:
    """Accept ClaimEntry, SubscriptionItem-like objects, ``(plan, until)`` pairs and contract dicts."""
    if isinstance(item, dict):
        return item["plan_code"], item["access_until"]
    if isinstance(item, tuple) and len(item) == 2:
        return item[0], item[1]
    return item.plan_code, item.access_until


def _parse_until(value: Any) -> int:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ClaimFormatError(f"access_until {value!r} is not ISO 8601") from exc
    return to_epoch(value)


def encode_claim(items: Iterable[Any], *, now: datetime | int | float | None = None) -> str:
    """Encode items into the ``subs`` string.

    ``items`` may be :class:`ClaimEntry`, the client's ``SubscriptionItem``, ``(plan_code, until)``
    pairs, or dicts from the contract (``plan_code`` + ISO ``access_until``). Several items of one
    plan collapse to the latest ``access_until``. With ``now``, entries already over are dropped
    (a cached answer may outlive some of its items).
    """
    latest: dict[str, int] = {}
    cutoff = None if now is None else to_epoch(now)
    for item in items:
        plan_code, raw_until = _item_fields(item)
        if not isinstance(plan_code, str) or not PLAN_CODE_RE.fullmatch(plan_code):
            raise ClaimFormatError(f"plan code {plan_code!r} is not a slug [a-z0-9][a-z0-9_-]{{0,31}}")
        until = _parse_until(raw_until)
        if until < 0:
            raise ClaimFormatError(f"access_until before 1970: {raw_until!r}")
        if cutoff is not None and until <= cutoff:
            continue
        if until > latest.get(plan_code, -1):
            latest[plan_code] = until
    return " ".join(f"{code}:{latest[code]}" for code in sorted(latest))


def decode_claim(value: str | None) -> list[ClaimEntry]:
    """Decode a ``subs`` string; ``None`` or ``""`` is no entries. Strict: raises ClaimFormatError."""
    if value is None or value == "":
        return []
    if not isinstance(value, str):
        raise ClaimFormatError(f"claim must be a string, got {type(value).__name__}")
    entries: list[ClaimEntry] = []
    seen: set[str] = set()
    for part in value.split(" "):
        match = _ENTRY_RE.fullmatch(part)
        if match is None:
            raise ClaimFormatError(f"bad claim entry {part!r} in {value!r}")
        code = match.group(1)
        if code in seen:
            raise ClaimFormatError(f"plan {code!r} appears twice in {value!r}")
        seen.add(code)
        entries.append(ClaimEntry(code, int(match.group(2))))
    return entries


def has_access(claim_value: str | None, plan_code: str, now: datetime | int | float) -> bool:
    """True when the claim grants ``plan_code`` at ``now`` (aware datetime or epoch seconds).

    ``now`` is compared exactly (not rounded): access ends AT ``access_until``. A missing or empty
    claim grants nothing. A malformed claim raises :class:`ClaimFormatError` rather than quietly
    answering: a validly signed token with a broken claim is an issuer bug that must be seen.
    """
    if isinstance(now, datetime):
        if now.tzinfo is None or now.utcoffset() is None:
            raise ClaimFormatError("now must be timezone-aware")
        now_ts = now.timestamp()
    else:
        now_ts = float(now)
    return any(e.plan_code == plan_code and now_ts < e.access_until for e in decode_claim(claim_value))
