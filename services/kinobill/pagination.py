"""Keyset pagination shared by every list endpoint: `{"items": [...], "next_cursor": ...}`.

The cursor is opaque to clients: the (sort time, id) of the last item shown, base64url-encoded.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from kinobill.errors import InvalidRequest

Position = tuple[datetime, uuid.UUID]


def encode_cursor(moment: datetime, row_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{moment.isoformat()}|{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, _, row_id = raw.partition("|")
        return datetime.fromisoformat(moment), uuid.UUID(row_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest("invalid_cursor", "the cursor is not valid") from exc


def keyset_page(
    cursor: str | None,
    limit: int,
    fetch: Callable[[Position | None, int], Sequence[Any]],
    to_json: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    """One page: `fetch(position after which to continue, how many)` is asked for one row more than
    `limit`, which tells whether there is a next page. Rows need `created_at` and `id`."""
    rows = fetch(decode_cursor(cursor) if cursor else None, limit + 1)
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit else None
    return {"items": [to_json(r) for r in page], "next_cursor": next_cursor}
