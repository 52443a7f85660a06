"""Auth's client (`kinobill.auth_client`) against the REAL Subscriptions process of the test stack."""

from __future__ import annotations

from access.conftest import purchase
from kinobill.auth_client import ActiveSubscriptionsClient


def test_the_client_serves_its_cached_answer_while_subscriptions_is_stopped(stack, tokens, plan, buyer):
    sub = purchase(stack, buyer, plan["id"])
    client = ActiveSubscriptionsClient(
        stack.subscriptions_url, tokens.service("auth"), ttl=0, retries=1, deadline=1.0
    )
    try:
        fresh = client.get(buyer.user_id)
        assert not fresh.stale and [i.subscription_id for i in fresh.items] == [sub["id"]]
        assert fresh.items[0].plan_code == plan["code"]

        stack.processes["subscriptions"].stop()
        try:
            stale = client.get(buyer.user_id)  # ttl=0: it must ask, cannot, and falls back
            assert stale.stale and stale.items == fresh.items and stale.etag == fresh.etag
            assert client.stats.stale_served == 1
            assert client.claim_for(buyer.user_id)["subs"].startswith(f"{plan['code']}:")
        finally:
            stack.start("subscriptions")

        back = client.get(buyer.user_id)
        assert not back.stale and back.items == fresh.items
        assert client.stats.revalidated >= 1  # the real service answered 304 to the cached ETag
    finally:
        client.close()
