"""The source table: orders.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("region", sa.String(20), nullable=False),
        sa.Column("amount", sa.Numeric(10, 2), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
    )
    # summa reads the old values of an UPDATE or DELETE from the WAL. A summary of one table
    # needs every column it reads there (region, amount), not just the primary key: that takes
    # REPLICA IDENTITY FULL. Either here, as the table's owner:
    #     op.execute("ALTER TABLE orders REPLICA IDENTITY FULL")
    # or, as 0002 does, with the define option {"replica_identity_full": true} (the sidecar
    # then sets it when it builds the summary; its role must own the table for that).


def downgrade() -> None:
    op.drop_table("orders")
