"""Bounded field types for request models: what a client may send is what Postgres can store.

Without bounds an integer past int4, a year-9999 time with an offset (past year 9999 in UTC), a text
with NUL (`\\u0000`, which Postgres text and JSONB refuse) or a lone surrogate (not encodable as UTF-8)
reach the database and fail there with a 500. These types refuse them at the edge with a 422.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StrictStr, WithJsonSchema

INT4_MAX = 2**31 - 1
# 10^12 kopecks = 10 billion RUB: far above any price, far below int8.
MAX_KOPECKS = 10**12
EARLIEST_YEAR, LATEST_YEAR = 1970, 9000
MAX_JSON_DEPTH = 32


class UnstorableInput(ValueError):
    """A value Postgres cannot store (NUL, lone surrogate, NaN/Infinity, too deep)."""


def check_storable_text(value: str) -> str:
    if "\x00" in value:
        raise UnstorableInput("text must not contain NUL (\\u0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UnstorableInput("text must be valid Unicode (no lone surrogates)") from exc
    return value


def check_storable(value: Any, depth: int = 0) -> Any:
    """Every string (keys too) storable, no NaN/Infinity, nesting at most MAX_JSON_DEPTH; returns value."""
    if depth > MAX_JSON_DEPTH:
        raise UnstorableInput(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        check_storable_text(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise UnstorableInput("numbers must be finite (no NaN or Infinity)")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_storable(key, depth + 1)
            check_storable(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_storable(item, depth + 1)
    return value


def _no_constant(name: str) -> Any:
    raise UnstorableInput(f"{name} is not JSON")


def loads_storable(raw: bytes) -> Any:
    """Parse an untrusted JSON body: UnstorableInput (a ValueError) for anything Postgres cannot store."""
    try:
        return check_storable(json.loads(raw, parse_constant=_no_constant))
    except RecursionError as exc:
        raise UnstorableInput(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from exc


def _within_years(value: datetime) -> datetime:
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("the time is out of range") from exc
    if not EARLIEST_YEAR <= in_utc.year <= LATEST_YEAR:
        raise ValueError(f"the time must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return value


# The years a time may be written with: 1971..8999 stays within EARLIEST_YEAR..LATEST_YEAR in UTC whatever
# the offset, so the OpenAPI document can state the bound as a pattern (and the text is held to it).
INSTANT_PATTERN = r"^(197[1-9]|19[89][0-9]|[2-8][0-9]{3})-"
_INSTANT_TEXT = re.compile(INSTANT_PATTERN)


def _iso_text_only(value: Any) -> Any:
    if not isinstance(value, str | datetime):
        raise ValueError("a time is an ISO 8601 string with an offset, e.g. 2027-01-31T10:00:00+03:00")
    if isinstance(value, str) and not _INSTANT_TEXT.match(value):
        raise ValueError("a time is written with a year from 1971 to 8999")
    return value


# An ISO 8601 string with an offset, years 1970..9000 in UTC (never a number: 0 is not a time).
Instant = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_text_only),
    AfterValidator(_within_years),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": INSTANT_PATTERN}),
]


def _whole_number(value: Any) -> Any:
    """A JSON integer, also written with a zero fraction (`3.0` is the integer 3 to JSON Schema, as the
    OpenAPI document says); never a string, a boolean or a fraction."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number")
    return value


# Non-negative counters stored as Postgres integer. (The bounds before the validator: the other order
# leaves `ge`/`le` in the JSON Schema instead of `minimum`/`maximum`.)
Int4 = Annotated[int, Field(ge=0, le=INT4_MAX), BeforeValidator(_whole_number)]
Kopecks = Annotated[int, Field(gt=0, le=MAX_KOPECKS), BeforeValidator(_whole_number)]
# Identifiers issued by YooKassa (payment, method, refund ids are 36-50 characters).
ProviderId = Annotated[StrictStr, Field(min_length=1, max_length=128)]
ShortText = Annotated[StrictStr, Field(max_length=256)]
# What a person writes down, e.g. how an operator resolved a task.
NoteText = Annotated[StrictStr, Field(max_length=2000)]
