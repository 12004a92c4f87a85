"""Summary region_sales, v2: adds the largest order. Built beside v1, which keeps serving.

Revision ID: 0003
Revises: 0002

v2 is promoted by 0004 (after it is live). Downgrading this migration points the alias back
at v1, which was kept (and kept fresh) the whole time; v2 is left in place, so upgrading
again gets the same v2 back at once. Retire it for good with summa.retire('region_sales', 2).
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

V2 = (
    "SELECT region, count(*) AS orders, sum(amount) AS total, max(amount) AS largest "
    "FROM orders GROUP BY region"
)


def upgrade() -> None:
    version = op.get_bind().exec_driver_sql(
        "SELECT summa.define('region_sales', %s, '{\"replica_identity_full\": true}')", (V2,)
    ).scalar_one()
    if version != 2:
        raise RuntimeError(f"region_sales: expected v2, summa.define returned v{version}")


def downgrade() -> None:
    op.execute("SELECT summa.promote('region_sales', 1)")
