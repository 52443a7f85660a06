"""CSV exports that a spreadsheet opens as data, never as formulas.

A cell starting with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return, which some spreadsheets
skip before looking for one) is prefixed with an apostrophe, so an e-mail address or a provider's
cancellation reason such as ``=HYPERLINK(...)`` is shown as text. Rows are streamed.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
EXPORT_LIMIT = 200_000  # one export; narrow the filters for more


def neutralise(value: Any) -> str:
    """The cell's text, with an apostrophe in front when a spreadsheet would read it as a formula."""
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(name: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow([neutralise(h) for h in header])
        for row in rows:
            yield writer.writerow([neutralise(cell) for cell in row])

    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response
