"""Auth's client for Kinobill Subscriptions: who has which subscription, compact enough for a JWT.

Depends only on httpx, redis, pyjwt and tenacity, so Auth can vendor or install it alone.

How Auth adopts this::

    import redis
    from kinobill.auth_client import ActiveSubscriptionsClient, ChangeListener, InProcessCache

    subs = ActiveSubscriptionsClient(
        "http://subscriptions.kinobill.svc:8000", service_token=SUBSCRIPTIONS_TOKEN,
        cache=InProcessCache(max_entries=100_000), ttl=60,
    )
    listener = ChangeListener(redis.Redis.from_url(REDIS_URL), subs).start()  # on shutdown: .stop()

    def issue_access_token(user) -> str:
        payload = {"iss": ISSUER, "sub": str(user.id), "aud": "kinobill-api", "exp": ..., "iat": ...}
        payload.update(subs.claim_for(user.id))  # {"subs": "kids:1769904000 premium:1767225600"}
        return jwt.encode(payload, PRIVATE_KEY, algorithm="RS256")

and a resource server checks access with::

    from kinobill.auth_client import has_access
    if not has_access(claims.get("subs"), "premium", datetime.now(UTC)): ...

``claim_for`` serves a cached answer (fresh for ``ttl`` s), revalidates with ETags, falls back to a
stale answer while Subscriptions is down and raises :class:`SubscriptionsUnavailable` only when it
has nothing for the user. With many Auth replicas, share the cache through Redis
(``RedisCache.from_url``: it fails fast) and give the listener a consumer group
(``ChangeListener(..., group="auth-cache")``).
``python -m kinobill.auth_client.capacity`` measures how many subscriptions fit a token.
"""

from .cache import CacheEntry, CacheUnavailable, InProcessCache, RedisCache, SubscriptionCache
from .changes import DEFAULT_STREAM, ChangeListener
from .claim import (
    CLAIM_NAME,
    REF_CLAIM_NAME,
    ClaimEntry,
    ClaimFormatError,
    decode_claim,
    encode_claim,
    has_access,
)
from .client import (
    DEFAULT_MAX_CLAIM_ENTRIES,
    ActiveSubscriptions,
    ActiveSubscriptionsClient,
    ClientStats,
    SubscriptionItem,
    SubscriptionsError,
    SubscriptionsRequestError,
    SubscriptionsUnavailable,
)

__all__ = [
    "CLAIM_NAME",
    "DEFAULT_MAX_CLAIM_ENTRIES",
    "DEFAULT_STREAM",
    "REF_CLAIM_NAME",
    "ActiveSubscriptions",
    "ActiveSubscriptionsClient",
    "CacheEntry",
    "CacheUnavailable",
    "ChangeListener",
    "ClaimEntry",
    "ClaimFormatError",
    "ClientStats",
    "InProcessCache",
    "RedisCache",
    "SubscriptionCache",
    "SubscriptionItem",
    "SubscriptionsError",
    "SubscriptionsRequestError",
    "SubscriptionsUnavailable",
    "decode_claim",
    "encode_claim",
    "has_access",
]
