"""Hard and soft declines: what a YooKassa ``cancellation_details.reason`` means for the saved card.

* **hard**: the saved method will not pay again without the user (the card expired, was blocked, the
  autopayment permission was revoked, the bank wants the holder to call...). Retrying the same card is
  pointless and may look like card testing to the issuer: the subscription stops charging that method
  at once and the user is asked to update the card.
* **soft**: the card may pay later (no money today, the bank did not answer, a limit that resets...):
  the renewal follows the dunning schedule (``schedule.RenewalPolicy.dunning_schedule``).

The rule is this table. Every reason of the official API (``PaymentCancellationDetails.reason`` in
YooKassa's OpenAPI), those the ``yookassa`` SDK 3.13 knows besides, and Billing's own
``rejected_by_provider`` (YooKassa refused the request itself with a 4xx) is decided here, each with
why. A reason not in the table (YooKassa may add some) is soft: the dunning schedule is bounded, so an
unknown answer costs at most the usual attempts, while calling it hard would drop a card that may pay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class DeclineKind(StrEnum):
    HARD = "hard"
    SOFT = "soft"


@dataclass(frozen=True)
class DeclineRule:
    kind: DeclineKind
    why: str


HARD, SOFT = DeclineKind.HARD, DeclineKind.SOFT

DECLINE_RULES: Mapping[str, DeclineRule] = MappingProxyType(
    {
        # --- the official list (PaymentCancellationDetails.reason) ---------------------------------------
        "3d_secure_failed": DeclineRule(
            HARD, "the issuer demands 3-D Secure, which only the holder can pass; an autopayment cannot"
        ),
        "call_issuer": DeclineRule(HARD, "the issuer declines and tells the holder to call the bank"),
        "card_expired": DeclineRule(HARD, "the card is past its expiry date; it never pays again"),
        "payment_method_limit_exceeded": DeclineRule(
            SOFT, "a daily or monthly limit of the card; it resets, a later attempt may pass"
        ),
        "payment_method_restricted": DeclineRule(HARD, "the card is blocked or restricted by the issuer"),
        "country_forbidden": DeclineRule(HARD, "cards of the issuer's country are not accepted"),
        "general_decline": DeclineRule(SOFT, "declined without a reason; often temporary"),
        "fraud_suspected": DeclineRule(
            HARD, "blocked as suspected fraud; repeating it makes the card look stolen"
        ),
        "identification_required": DeclineRule(
            HARD, "the YooMoney wallet hit its limit until the owner identifies; needs the user"
        ),
        "insufficient_funds": DeclineRule(SOFT, "not enough money now; it may be there in a day"),
        "invalid_card_number": DeclineRule(HARD, "the card number is not valid (closed or reissued card)"),
        "invalid_csc": DeclineRule(HARD, "the card's security code is wrong; only the holder can fix it"),
        "issuer_unavailable": DeclineRule(SOFT, "the issuer did not answer; a technical, temporary failure"),
        "canceled_by_merchant": DeclineRule(
            SOFT, "we cancelled the payment ourselves; says nothing about the card"
        ),
        "permission_revoked": DeclineRule(
            HARD, "the holder withdrew the permission for autopayments; charging again is forbidden"
        ),
        "internal_timeout": DeclineRule(SOFT, "YooKassa could not finish within 30 s; retry later"),
        "expired_on_confirmation": DeclineRule(
            SOFT, "the payer did not confirm in time; an autopayment needs no confirmation, so not the card"
        ),
        "expired_on_capture": DeclineRule(SOFT, "a hold was not captured in time; not the card"),
        "unsupported_mobile_operator": DeclineRule(
            HARD, "the phone's operator cannot pay from a mobile account; the method never works"
        ),
        "deal_expired": DeclineRule(SOFT, "a Safe deal closed (not used by Kinobill); not the card"),
        # --- known to the yookassa SDK 3.13, absent from the official enum ---------------------------------
        "loan_declined": DeclineRule(HARD, "the lender refused the instalment loan for this payer"),
        "loan_declined_by_payer": DeclineRule(HARD, "the payer turned the loan down"),
        "loan_application_expired": DeclineRule(SOFT, "the loan application lapsed; not a verdict"),
        "rejected_by_timeout": DeclineRule(SOFT, "a timeout on the way; temporary"),
        "unknown": DeclineRule(SOFT, "no reason given; treated as an unknown reason"),
        # --- Billing's own -------------------------------------------------------------------------------
        "rejected_by_provider": DeclineRule(
            SOFT, "YooKassa refused the request (4xx) before any bank saw it; not the card's fault"
        ),
    }
)

UNKNOWN_REASON_RULE = DeclineRule(SOFT, "a reason this table does not know yet; the bounded schedule applies")

HARD_REASONS = frozenset(reason for reason, rule in DECLINE_RULES.items() if rule.kind == HARD)
SOFT_REASONS = frozenset(reason for reason, rule in DECLINE_RULES.items() if rule.kind == SOFT)


def decline_rule(reason: str | None) -> DeclineRule:
    """The rule for a cancellation reason (``None`` or an unknown reason: soft)."""
    if reason is None:
        return UNKNOWN_REASON_RULE
    return DECLINE_RULES.get(reason, UNKNOWN_REASON_RULE)


def is_hard_decline(reason: str | None) -> bool:
    """True when the saved method must not be charged again until the user replaces it."""
    return decline_rule(reason).kind == HARD


__all__ = [
    "DECLINE_RULES",
    "HARD_REASONS",
    "SOFT_REASONS",
    "UNKNOWN_REASON_RULE",
    "DeclineKind",
    "DeclineRule",
    "decline_rule",
    "is_hard_decline",
]
