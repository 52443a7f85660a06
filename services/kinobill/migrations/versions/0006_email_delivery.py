"""both schemas: e-mail delivery that one bad address cannot jam and that never sends a Message-ID twice

`sending_at` is the intent to send, committed before the message goes to SMTP (a row with an intent and
no `sent_at` is not sent again); `dead_at` marks an e-mail given up after its attempts (or at once for an
address no server can take). The unsent index leaves dead rows out.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SCHEMAS = ("subscriptions", "billing")


def upgrade() -> None:
    for schema in SCHEMAS:
        op.add_column(
            "emails", sa.Column("sending_at", sa.DateTime(timezone=True), nullable=True), schema=schema
        )
        op.add_column(
            "emails", sa.Column("dead_at", sa.DateTime(timezone=True), nullable=True), schema=schema
        )
        op.drop_index(f"ix_{schema}_emails_unsent", table_name="emails", schema=schema)
        op.create_index(
            f"ix_{schema}_emails_unsent",
            "emails",
            ["created_at"],
            schema=schema,
            postgresql_where=sa.text("sent_at IS NULL AND dead_at IS NULL"),
        )


def downgrade() -> None:
    for schema in SCHEMAS:
        op.drop_index(f"ix_{schema}_emails_unsent", table_name="emails", schema=schema)
        op.create_index(
            f"ix_{schema}_emails_unsent",
            "emails",
            ["created_at"],
            schema=schema,
            postgresql_where=sa.text("sent_at IS NULL"),
        )
        op.drop_column("emails", "dead_at", schema=schema)
        op.drop_column("emails", "sending_at", schema=schema)
