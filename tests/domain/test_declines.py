"""Hard and soft declines: every cancellation reason decided, reason by reason, as the table says."""

from __future__ import annotations

import pytest

from kinobill.domain.declines import (
    DECLINE_RULES,
    HARD_REASONS,
    SOFT_REASONS,
    DeclineKind,
    decline_rule,
    is_hard_decline,
)
from yookassa_sandbox.cards import PAYMENT_CANCEL_REASONS

# The decision for each reason, written out once more so that a change of the table is a visible choice.
EXPECTED = {
    "3d_secure_failed": "hard",
    "call_issuer": "hard",
    "card_expired": "hard",
    "payment_method_limit_exceeded": "soft",
    "payment_method_restricted": "hard",
    "country_forbidden": "hard",
    "general_decline": "soft",
    "fraud_suspected": "hard",
    "identification_required": "hard",
    "insufficient_funds": "soft",
    "invalid_card_number": "hard",
    "invalid_csc": "hard",
    "issuer_unavailable": "soft",
    "canceled_by_merchant": "soft",
    "permission_revoked": "hard",
    "internal_timeout": "soft",
    "expired_on_confirmation": "soft",
    "expired_on_capture": "soft",
    "unsupported_mobile_operator": "hard",
    "deal_expired": "soft",
    "loan_declined": "hard",
    "loan_declined_by_payer": "hard",
    "loan_application_expired": "soft",
    "rejected_by_timeout": "soft",
    "unknown": "soft",
    "rejected_by_provider": "soft",
}


@pytest.mark.parametrize("reason", sorted(EXPECTED))
def test_each_reason_is_decided_as_documented(reason: str) -> None:
    rule = decline_rule(reason)
    assert rule.kind == DeclineKind(EXPECTED[reason])
    assert is_hard_decline(reason) is (EXPECTED[reason] == "hard")
    assert rule.why  # every decision says why


def test_every_reason_of_the_official_list_is_in_the_table() -> None:
    assert set(PAYMENT_CANCEL_REASONS) <= set(DECLINE_RULES)
    assert set(DECLINE_RULES) == set(EXPECTED)


def test_the_reasons_the_issue_names_fall_on_their_side() -> None:
    hard = {"card_expired", "permission_revoked", "payment_method_restricted", "invalid_card_number"}
    hard |= {"fraud_suspected", "country_forbidden", "call_issuer"}
    soft = {"insufficient_funds", "issuer_unavailable", "internal_timeout", "payment_method_limit_exceeded"}
    soft |= {"general_decline"}
    assert hard <= HARD_REASONS and soft <= SOFT_REASONS
    assert not HARD_REASONS & SOFT_REASONS


@pytest.mark.parametrize("reason", [None, "", "a_reason_yookassa_adds_tomorrow"])
def test_a_missing_or_unknown_reason_is_soft(reason: str | None) -> None:
    assert not is_hard_decline(reason)
    assert decline_rule(reason).kind == DeclineKind.SOFT
