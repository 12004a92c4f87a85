"""Serve region_sales v2 through the alias.

Revision ID: 0004
Revises: 0003

Only a live version can be promoted. This migration runs in its own transaction (env.py sets
transaction_per_migration), after 0003's committed, so it may wait for v2 here; a deploy
step that runs `SELECT summa.wait_live('region_sales', 2, '10 minutes')` before
`alembic upgrade head` does the same without holding a migration open.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    live = bind.exec_driver_sql(
        "SELECT summa.wait_live('region_sales', 2, '10 minutes')"
    ).scalar_one()
    if not live:
        raise RuntimeError("region_sales v2 is not live after 10 minutes: see summa.status")
    bind.exec_driver_sql("SELECT summa.promote('region_sales', 2)")


def downgrade() -> None:
    # Instant: v1 is live beside v2.
    op.execute("SELECT summa.promote('region_sales', 1)")
