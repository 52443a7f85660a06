"""The Subscriptions service as an ASGI app (`kinobill serve subscriptions`)."""

from __future__ import annotations

from fastapi import FastAPI

from kinobill.runtime import get_runtime
from kinobill.subscriptions import card_api, refund_api
from kinobill.subscriptions.access_api import access_router
from kinobill.subscriptions.api import internal_router, user_router
from kinobill.subscriptions.return_page import return_router
from kinobill.web import build_app


def create_app() -> FastAPI:
    return build_app(
        service="subscriptions",
        title="Kinobill Subscriptions",
        routers=[
            user_router,
            internal_router,
            access_router,
            refund_api.user_router,
            refund_api.internal_router,
            card_api.user_router,
            return_router,
        ],
        engine=lambda: get_runtime().engine,
        redis_client=lambda: get_runtime().redis,
    )
