"""E-mail that one bad address cannot jam, sent at most once per Message-ID, and bad claims refused at the
edge: against the real worker, Postgres and the capture mailbox."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from kinobill.billing import tables as bt
from kinobill.domain.addresses import email_address_problem
from kinobill.subscriptions import tables as st
from shop import mail_to
from support import wait_until

BAD = ["victim@example.com\r\nBcc: everyone@example.com", "a@", "x" * 250 + "@example.com"]


def queue(db: sa.Engine, to: str) -> uuid.UUID:
    row_id = uuid.uuid4()
    with db.begin() as conn:
        conn.execute(
            st.emails.insert().values(
                id=row_id,
                dedupe_key=f"test:{row_id}",
                to_address=to,
                kind="test_notice",
                subject="Notice",
                body="Hello",
            )
        )
    return row_id


def unsent(db: sa.Engine) -> int:
    with db.connect() as conn:
        return sum(
            conn.execute(
                sa.select(sa.func.count()).select_from(t).where(t.c.sent_at.is_(None), t.c.dead_at.is_(None))
            ).scalar_one()
            for t in (st.emails, bt.emails)
        )


def row(db: sa.Engine, row_id: uuid.UUID) -> sa.Row:
    with db.connect() as conn:
        return conn.execute(sa.select(st.emails).where(st.emails.c.id == row_id)).one()


def test_bad_addresses_are_given_up_and_the_e_mails_around_them_are_sent_once(stack, db):
    good = [f"{uuid.uuid4().hex[:10]}@example.com" for _ in range(3)]
    ids = []
    for address, bad in zip(good, [*BAD[:2], None], strict=True):  # good, bad, good, bad, good
        ids.append((queue(db, address), address))
        if bad:
            ids.append((queue(db, bad), None))
    for row_id, address in ids:
        if address is None:
            dead = wait_until(lambda r=row_id: (x := row(db, r)).dead_at and x, message="given up")
            assert dead.sent_at is None and dead.attempts == 1 and dead.last_error
    for row_id, address in ids:
        if address is not None:
            mails = wait_until(lambda a=address: mail_to(stack, a), message=f"the e-mail to {address}")
            assert [m["message_id"] for m in mails] == [f"<{row_id}@kinobill>"]
            wait_until(lambda r=row_id: row(db, r).sent_at, message="recorded as sent")


@pytest.mark.slow
def test_an_e_mail_sent_but_not_recorded_as_sent_is_not_sent_again(stack, db):
    address = f"{uuid.uuid4().hex[:10]}@example.com"
    wait_until(lambda: unsent(db) == 0, timeout=60, message="no other e-mail waiting (it would crash first)")
    crashing = stack.start("worker", {"KINOBILL_CRASH_POINTS": "mail.after_send"})
    try:
        row_id = queue(db, address)
        assert crashing.wait_exit(30) == 97  # handed to SMTP, then died before marking it sent
    finally:
        stack.start("worker")
    settled = wait_until(lambda: (x := row(db, row_id)).sent_at and x, timeout=30, message="recorded")
    assert settled.last_error == "outcome unconfirmed"
    assert [m["message_id"] for m in mail_to(stack, address)] == [f"<{row_id}@kinobill>"]


@pytest.mark.parametrize("claim", [*BAD, "two@example.com, three@example.com", "no-at-sign"])
def test_a_token_with_an_unusable_email_claim_is_refused_before_anything_is_written(
    stack, tokens, plan, claim
):
    import httpx

    user_id = uuid.uuid4()
    headers = {**tokens.user_headers(user_id, claim), "Idempotency-Key": uuid.uuid4().hex}
    response = httpx.post(
        f"{stack.subscriptions_url}/api/v1/subscriptions",
        json={"plan_id": plan["id"], "period": "month"},
        headers=headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_email_claim"
    mine = httpx.get(f"{stack.subscriptions_url}/api/v1/subscriptions", headers=tokens.user_headers(user_id))
    assert mine.status_code == 200 and mine.json()["items"] == []


def test_the_address_rule() -> None:
    assert email_address_problem("buyer@example.com") is None
    assert email_address_problem("Ivan.Petrov+films@mail.example.ru") is None
    for bad in [*BAD, "", "a@b", "@example.com", "a@@example.com", "a b@example.com", "a@example..com"]:
        assert email_address_problem(bad), bad
