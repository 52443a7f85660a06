"""both schemas: the reader's language and time zone (from Auth's `locale`/`zoneinfo` claims) kept with
subscriptions and payments, and each e-mail's locale, zone and HTML part kept with the e-mail

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

READERS = (("subscriptions", "subscriptions"), ("billing", "payments"))
SCHEMAS = ("subscriptions", "billing")


def upgrade() -> None:
    for schema, table in READERS:
        op.add_column(table, sa.Column("locale", sa.Text(), nullable=True), schema=schema)
        op.add_column(table, sa.Column("zoneinfo", sa.Text(), nullable=True), schema=schema)
    for schema in SCHEMAS:
        op.add_column("emails", sa.Column("locale", sa.Text(), nullable=True), schema=schema)
        op.add_column("emails", sa.Column("zoneinfo", sa.Text(), nullable=True), schema=schema)
        op.add_column("emails", sa.Column("html_body", sa.Text(), nullable=True), schema=schema)


def downgrade() -> None:
    for schema in SCHEMAS:
        for column in ("html_body", "zoneinfo", "locale"):
            op.drop_column("emails", column, schema=schema)
    for schema, table in READERS:
        op.drop_column(table, "zoneinfo", schema=schema)
        op.drop_column(table, "locale", schema=schema)
