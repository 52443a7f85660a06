"""The printed refund edge-case table: the numbers the lead pastes into the issue note are pinned here."""

from __future__ import annotations

import pytest

from kinobill.domain.refund_table import EDGE_CASES, HEADER, main, render, row

EXPECTED_REFUND = {
    "asked before the period starts (test clock)": "299.00",
    "at the period start": "299.00",
    "7 d − 1 s after start": "299.00",
    "exactly 7 d after start": "299.00",
    "7 d + 1 s after start": "231.48",
    "day 20 of a 30-day month": "99.66",
    "day 200 of a 365-day year": "1351.64",
    "day 10 of February 2028 (29 days)": "195.89",
    "after 2 renewals (anchor 31 Jan): day 15": "149.50",
    "after 2 renewals (anchor 31 Jan): day 3": "299.00",
    "rounding down: 31-day month at an odd second": "201.16",
    "earlier partial refund 50.00, day 20 of 30": "49.66",
    "earlier partial refund 50.00, day 3": "249.00",
    "earlier refund 100.00 > prorated share": "0.00 (`nothing_to_refund`)",
    "everything already refunded": "0.00 (`nothing_to_refund`)",
    "1 s before the period ends": "0.00 (`nothing_to_refund`)",
    "at the period end": "error `refund_period_over`",
}


def test_every_case_is_pinned() -> None:
    assert [case.name for case in EDGE_CASES] == list(EXPECTED_REFUND)


@pytest.mark.parametrize("case", EDGE_CASES, ids=[case.name for case in EDGE_CASES])
def test_case_amount(case: object) -> None:
    cells = row(case)
    assert len(cells) == len(HEADER)
    assert cells[-1] == EXPECTED_REFUND[cells[0]]


def test_main_prints_markdown_table(capsys: pytest.CaptureFixture[str]) -> None:
    main()
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0] == "| " + " | ".join(HEADER) + " |"
    assert set(lines[1].replace("|", "")) == {"-"}
    assert len(lines) == 2 + len(EDGE_CASES)
    assert all(line.startswith("| ") and line.endswith(" |") for line in [lines[0], *lines[2:]])
    assert all(line.count(" | ") == len(HEADER) - 1 for line in [lines[0], *lines[2:]])
    assert out.strip() == render()
