"""indexes for the admin's notification and e-mail lists at production size

There is one YooKassa notification and one e-mail per final payment and refund (tens of millions after
three years). Their change lists are ordered newest first and filtered by creation or sending time; their
searches are exact (an address in any case, an event name). Without these, each of those pages sorted or
scanned the whole table. Built CONCURRENTLY: no write is blocked on a live database.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# (name, schema, table, columns or expressions)
INDEXES: list[tuple[str, str, str, list[str]]] = [
    ("ix_provider_notifications_event", "billing", "provider_notifications", ["event", "received_at", "id"]),
    *(
        index
        for schema in ("billing", "subscriptions")
        for index in (
            (f"ix_{schema}_emails_created", schema, "emails", ["created_at", "id"]),
            (f"ix_{schema}_emails_sent", schema, "emails", ["sent_at"]),
            (f"ix_{schema}_emails_address", schema, "emails", ["upper(to_address)"]),
        )
    ),
]


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for name, schema, table, columns in INDEXES:
            on = f'"{schema}"."{table}" ({", ".join(columns)})'
            op.execute(sa.text(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {on}"))
        # statistics of the new expressions (upper(to_address)); until then the planner guesses that an
        # address matches thousands of rows and walks the whole date index instead
        for schema in ("billing", "subscriptions"):
            op.execute(sa.text(f'ANALYZE "{schema}"."emails"'))


def downgrade() -> None:
    for name, schema, _table, _columns in INDEXES:
        op.execute(sa.text(f'DROP INDEX IF EXISTS "{schema}".{name}'))
