"""GET /internal/v1/users/{user_id}/subscriptions/active against the real Subscriptions process.

Real purchases through Billing and the YooKassa sandbox, the real worker (payment results, outbox
relay, the `access-cache` consumer), real Redis and Postgres; the shared test clock.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from access.conftest import PATH, changes_consumed, purchase
from kinobill.events import SUBSCRIPTION_CHANGES
from kinobill.messages import SubscriptionChanged
from kinobill.subscriptions.access import entry_key, generation_key
from shop import DECLINED_CARD, Buyer
from support import wait_until


def active(auth: httpx.Client, user_id: uuid.UUID | str, **headers: str) -> httpx.Response:
    return auth.get(PATH.format(user_id=user_id), headers=headers)


def items(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_only_active_subscriptions_of_that_user_are_listed(stack, tokens, auth, new_plan, buyer):
    plans = [new_plan() for _ in range(4)]
    held = purchase(stack, buyer, plans[0]["id"])
    waiting = purchase(stack, buyer, plans[1]["id"], card=None)
    declined = purchase(stack, buyer, plans[2]["id"], card=DECLINED_CARD)
    assert (held["status"], waiting["status"], declined["status"]) == ("active", "awaiting_payment", "ended")
    other_id = uuid.uuid4()
    with httpx.Client(
        base_url=stack.subscriptions_url,
        headers=tokens.user_headers(other_id, "other@example.com"),
        timeout=30,
    ) as other_http:
        other_sub = purchase(
            stack, Buyer(other_id, "other@example.com", other_http, other_http), plans[3]["id"]
        )
    assert other_sub["status"] == "active"

    response = active(auth, buyer.user_id)
    assert response.headers["etag"].startswith('"') and response.headers["content-type"] == "application/json"
    assert response.json() == {
        "user_id": str(buyer.user_id),
        "items": [
            {
                "subscription_id": held["id"],
                "plan_code": plans[0]["code"],
                "period": "month",
                "access_until": datetime.fromisoformat(held["current_period_end"]).isoformat(),
            }
        ],
    }
    assert [i["subscription_id"] for i in items(active(auth, other_id))] == [other_sub["id"]]
    assert items(active(auth, uuid.uuid4())) == []


def test_a_purchase_shows_on_the_next_read_with_a_new_etag(stack, auth, plan, buyer):
    before = active(auth, buyer.user_id)
    assert items(before) == []
    assert active(auth, buyer.user_id).headers["x-cache"] == "hit"  # the empty answer is cached

    sub = purchase(stack, buyer, plan["id"])
    assert sub["status"] == "active"
    after = active(auth, buyer.user_id)  # the very next read after activation
    assert [(i["subscription_id"], i["plan_code"]) for i in items(after)] == [(sub["id"], plan["code"])]
    assert after.headers["etag"] != before.headers["etag"]
    assert after.headers["x-cache"] == "miss"


def test_the_change_stream_alone_invalidates_through_the_access_cache_worker(auth, redis_client, buyer):
    """The backstop for a writer that died between its commit and its own invalidation."""
    user = str(buyer.user_id)
    active(auth, user)
    assert redis_client.exists(entry_key(user)) == 1
    generation = int(redis_client.get(generation_key(user)) or 0)
    payload = SubscriptionChanged(
        user_id=buyer.user_id, subscription_id=uuid.uuid4(), event="activated", at=datetime.now(UTC)
    ).to_json()
    redis_client.xadd(SUBSCRIPTION_CHANGES, {**payload, "payload": json.dumps(payload)})
    wait_until(lambda: redis_client.exists(entry_key(user)) == 0, message="the access-cache worker")
    assert int(redis_client.get(generation_key(user))) == generation + 1
    assert active(auth, user).headers["x-cache"] == "miss"


def test_if_none_match_revalidates_with_304(stack, auth, plan, buyer):
    purchase(stack, buyer, plan["id"])
    first = active(auth, buyer.user_id)
    etag = first.headers["etag"]
    again = active(auth, buyer.user_id, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert active(auth, buyer.user_id, **{"If-None-Match": f'"other", {etag}'}).status_code == 304
    changed = active(auth, buyer.user_id, **{"If-None-Match": '"not-the-current-one"'})
    assert changed.status_code == 200 and changed.json() == first.json()


def test_requests_without_a_service_token_are_refused(stack, tokens):
    url = stack.subscriptions_url + PATH.format(user_id=uuid.uuid4())
    user_id = uuid.uuid4()
    for headers in (
        {},
        tokens.user_headers(user_id),  # a user's token, even for their own id
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": f"Basic {tokens.service()}"},
    ):
        response = httpx.get(url.replace(url.split("/")[-3], str(user_id)), headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"]["code"] == "unauthorized"
    assert httpx.get(url, headers=tokens.service_headers("auth")).status_code == 200


def test_a_bad_user_id_is_422(auth):
    response = auth.get(PATH.format(user_id="not-a-uuid"))
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"


def test_a_cached_answer_never_grants_access_past_its_end(stack, auth, plan, buyer, clock, redis_client):
    sub = purchase(stack, buyer, plan["id"])
    # auto-renew off: a renewal charge at the end would otherwise change the subscription and drop the entry
    assert buyer.subscriptions.post(f"/api/v1/subscriptions/{sub['id']}/cancel").status_code == 200
    assert len(items(active(auth, buyer.user_id))) == 1
    # the purchase's and the cancellation's change events reach the access-cache worker asynchronously;
    # each drops the entry, so the entry to test is the one filled after the worker has taken them all
    wait_until(
        lambda: changes_consumed(redis_client, sub["id"], "cancelled"),
        message="the access-cache worker to catch up",
    )
    wait_until(lambda: active(auth, buyer.user_id).headers["x-cache"] == "hit", message="a cached answer")
    end = datetime.fromisoformat(sub["current_period_end"])

    clock.set(end + timedelta(minutes=1))  # the services re-read the clock within 50 ms
    later = wait_until(
        lambda: (r := active(auth, buyer.user_id)).status_code == 200 and r.json()["items"] == [] and r,
        message="the item to drop out at its end",
    )
    # still served from the cache entry filled before its end (unless a scheduler ended it meanwhile)
    assert later.headers["x-cache"] == "hit" or buyer.subscription(sub["id"])["status"] == "ended"

    redis_client.delete(entry_key(str(buyer.user_id)))
    assert items(active(auth, buyer.user_id)) == []  # filled while the clock is past the end
    clock.reset()  # the clock goes back: the entry filled "in the future" must not be trusted
    back = wait_until(
        lambda: items(active(auth, buyer.user_id)), message="the item to be listed again after the reset"
    )
    assert [i["subscription_id"] for i in back] == [sub["id"]]
