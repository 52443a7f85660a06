from __future__ import annotations

import itertools
import json

import jwt
import pytest

from kinobill.auth_client import DEFAULT_MAX_CLAIM_ENTRIES, decode_claim
from kinobill.auth_client import capacity as cap


@pytest.fixture(scope="module")
def result() -> dict:
    return cap.run()


def _limit(name: str) -> cap.Limit:
    return next(lim for lim in cap.LIMITS if lim.name == name)


def test_max_n_token_fits_and_one_more_does_not(result: dict) -> None:
    assert len(result["capacity"]) == len(cap.ALGORITHMS) * len(cap.LIMITS)
    for row in result["capacity"]:
        limit = _limit(row["limit"])
        n = row["max_n"]
        at_max = cap.make_token(row["algorithm"], n)
        one_more = cap.make_token(row["algorithm"], n + 1)
        assert limit.fits(at_max), row
        assert not limit.fits(one_more), row
        assert limit.cost(at_max) == row["cost_at_max"] <= limit.max_bytes < row["cost_at_max_plus_1"]


def test_measured_token_is_a_valid_signed_jwt_carrying_n_entries(result: dict) -> None:
    for row in result["capacity"]:
        if row["limit"] != "cookie-4k":
            continue
        token = cap.make_token(row["algorithm"], row["max_n"])
        alg = row["algorithm"]
        claims = jwt.decode(
            token,
            cap.verification_key(alg),
            algorithms=[alg],
            audience="kinobill-api",
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
        assert len(decode_claim(claims["subs"])) == row["max_n"]
        assert claims["email"] and claims["roles"] == ["user"]


def test_results_are_monotone(result: dict) -> None:
    by = {(r["algorithm"], r["limit"]): r["max_n"] for r in result["capacity"]}
    for alg in cap.ALGORITHMS:
        assert 0 < by[(alg, "cookie-4k")] < by[(alg, "nginx-8k")] < by[(alg, "header-16k")]
    for lim in cap.LIMITS:  # smaller signatures leave more room: HS256 32 B < ES256 64 B < RS256 256 B
        assert by[("RS256", lim.name)] <= by[("ES256", lim.name)] <= by[("HS256", lim.name)]
    for alg in cap.ALGORITHMS:
        sizes = [len(cap.make_token(alg, n)) for n in range(0, 40)]
        assert all(a < b for a, b in itertools.pairwise(sizes)), alg
        assert result["token_bytes"][alg]["1"] == sizes[1]
        assert result["token_bytes"][alg]["10"] == sizes[10]


def test_chosen_format_is_the_most_compact_readable_one(result: dict) -> None:
    per_entry = {row["format"]: row["token_bytes_per_entry"] for row in result["formats"]}
    readable = ["objects", "objects-short-keys", "strings", cap.CHOSEN]
    assert min(readable, key=per_entry.__getitem__) == cap.CHOSEN
    # the unreadable/inexact ones would be smaller: the docstring says so, keep it honest
    assert per_entry["string-base36"] < per_entry[cap.CHOSEN]
    assert per_entry["string-days"] < per_entry[cap.CHOSEN]


def test_client_cap_fits_a_cookie_even_with_longest_plan_codes() -> None:
    token = cap.make_token("RS256", DEFAULT_MAX_CLAIM_ENTRIES, code_length=32)
    assert len(decode_claim(jwt.decode(token, options={"verify_signature": False})["subs"])) == 32
    assert _limit("cookie-4k").fits(token)


def test_plan_codes_are_distinct_and_realistic() -> None:
    codes = [code for code, _ in cap.sample_items(600)]
    assert len(set(codes)) == 600
    assert all(6 <= len(c) <= 12 for c in codes)
    long_codes = [code for code, _ in cap.sample_items(100, code_length=32)]
    assert len(set(long_codes)) == 100 and {len(c) for c in long_codes} == {32}


def test_max_entries_search_edges() -> None:
    assert cap.max_entries(lambda n: n <= 0) == 0
    assert cap.max_entries(lambda n: False) == -1
    for limit in (1, 2, 3, 7, 8, 9, 1000):
        assert cap.max_entries(lambda n, limit=limit: n <= limit) == limit


def test_cli_json_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert cap.main(["--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {r["algorithm"] for r in data["capacity"]} == set(cap.ALGORITHMS)
    assert cap.main([]) == 0
    table = capsys.readouterr().out
    assert "| RS256 |" in table and "cookie-4k" in table and "string-base36" in table
