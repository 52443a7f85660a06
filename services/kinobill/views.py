"""What the services' use cases answer, as values (`<service>/results.py`), and the one way a router
renders such a value as JSON.

A result is a frozen dataclass whose fields are the answer's keys, in order. :func:`view_of` fills one
from a row or an entity (fields of the same name, some given explicitly); :func:`json_of` writes it for a
client: ids as strings, moments in ISO 8601, money (integer kopecks, the fields named in `money`) as
RUB strings. Only adapters call `json_of`; the service layer returns the value.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any, TypeVar

from kinobill.domain.money import format_rub

T = TypeVar("T")

MONEY = frozenset({"amount"})


def view_of(cls: type[T], record: Any, **given: Any) -> T:
    """An instance of the result class `cls` with `given` values and the rest read from `record`."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    return cls(**{name: given[name] if name in given else getattr(record, name) for name in names})


def json_of(value: Any, *, money: Collection[str] = MONEY, omit_none: Collection[str] = ()) -> dict[str, Any]:
    """The JSON body of a result (its fields in order; the fields in `omit_none` left out when None)."""
    body: dict[str, Any] = {}
    for field in dataclasses.fields(value):
        item = getattr(value, field.name)
        if item is None and field.name in omit_none:
            continue
        if isinstance(item, uuid.UUID):
            item = str(item)
        elif isinstance(item, datetime):
            item = item.isoformat()
        elif field.name in money and item is not None:
            item = format_rub(item)
        body[field.name] = item
    return body
