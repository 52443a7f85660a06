"""Operator tasks record who resolved them and how (the admin's "mark resolved")

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("operator_tasks", sa.Column("resolved_by", sa.Text), schema="billing")
    op.add_column("operator_tasks", sa.Column("resolution_note", sa.Text), schema="billing")


def downgrade() -> None:
    op.drop_column("operator_tasks", "resolution_note", schema="billing")
    op.drop_column("operator_tasks", "resolved_by", schema="billing")
