"""Demo plans for a fresh local catalogue (only when it is empty)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from kinobill.db import one_off_engine
from kinobill.subscriptions.tables import plans

DEMO_PLANS = [
    ("basic", "Basic", "HD films and series on one screen", 29900, 299000),
    ("premium", "Premium", "4K, new releases, four screens at once", 59900, 599000),
    ("kids", "Kids", "Cartoons and family films, no ads", 19900, 199000),
]


def seed_demo_plans(database_url: str) -> int:
    engine = one_off_engine(database_url)
    with engine.begin() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(plans)).scalar_one():
            return 0
        start = datetime(2020, 1, 1, tzinfo=UTC)
        conn.execute(
            plans.insert(),
            [
                {
                    "id": uuid.uuid4(),
                    "code": code,
                    "name": name,
                    "description": description,
                    "price_month": month,
                    "price_year": year,
                    "currency": "RUB",
                    "sale_start": start,
                }
                for code, name, description, month, year in DEMO_PLANS
            ],
        )
    engine.dispose()
    return len(DEMO_PLANS)
