"""Summary region_sales, v1: orders and total by region.

Revision ID: 0002
Revises: 0001

summa.define only records the request, in this migration's transaction: nothing is built
here and the migration stays short. Once it commits, the running sidecar (`summa run`)
builds table region_sales__v1 and the alias view region_sales, which serves v1.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

V1 = "SELECT region, count(*) AS orders, sum(amount) AS total FROM orders GROUP BY region"


def upgrade() -> None:
    version = op.get_bind().exec_driver_sql(
        "SELECT summa.define('region_sales', %s, '{\"replica_identity_full\": true}')", (V1,)
    ).scalar_one()
    # Running this migration again on another database, or after a downgrade and a
    # re-upgrade, gives the same number; on a fresh database it is 1.
    if version != 1:
        raise RuntimeError(f"region_sales: expected v1, summa.define returned v{version}")


def downgrade() -> None:
    # The alias and every version's table.
    op.execute("SELECT summa.drop('region_sales')")
