"""Whose saved payment method is whose: a method is charged only for the user whose payment saved it, or
who bound it by changing a subscription's card (billing.card_changes, active)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from kinobill.billing import tables as t


def saved_for_user(conn: sa.Connection, payment_method_id: str, user_id: uuid.UUID) -> bool:
    """True when a succeeded payment of `user_id` saved `payment_method_id` (ix_payments_user), or a card
    change of `user_id` bound it (its unique provider method id)."""
    query = sa.select(sa.literal(1)).where(
        t.payments.c.user_id == user_id,
        t.payments.c.saved_payment_method_id == payment_method_id,
        t.payments.c.status == "succeeded",
    )
    bound = sa.select(sa.literal(1)).where(
        t.card_changes.c.provider_method_id == payment_method_id,
        t.card_changes.c.user_id == user_id,
        t.card_changes.c.status == "active",
    )
    return conn.execute(query.limit(1)).first() is not None or conn.execute(bound).first() is not None
