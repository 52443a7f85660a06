"""The Billing service as an ASGI app (`kinobill serve billing`)."""

from __future__ import annotations

from fastapi import FastAPI

from kinobill.billing import card_api, operator_task_api, reconcile_api, refund_api
from kinobill.billing.api import internal_router, user_router, webhook_router
from kinobill.runtime import get_runtime
from kinobill.web import build_app


def create_app() -> FastAPI:
    return build_app(
        service="billing",
        title="Kinobill Billing",
        routers=[
            user_router,
            internal_router,
            refund_api.user_router,
            refund_api.internal_router,
            reconcile_api.internal_router,
            operator_task_api.internal_router,
            card_api.internal_router,
            webhook_router,
        ],
        engine=lambda: get_runtime().engine,
        redis_client=lambda: get_runtime().redis,
    )
