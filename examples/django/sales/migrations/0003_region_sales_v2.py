from django.db import migrations

V2 = (
    "SELECT region, count(*) AS orders, sum(amount) AS total, max(amount) AS largest "
    "FROM orders GROUP BY region"
)


class Migration(migrations.Migration):
    """Summary region_sales, v2: adds the largest order. Built beside v1, which keeps serving.

    0004 promotes it once it is live. Unapplying this migration points the alias back at v1
    (kept, and kept fresh, the whole time); v2 is left in place, so applying it again gets
    the same v2 back at once. Retire it for good with summa.retire('region_sales', 2).
    """

    dependencies = [("sales", "0002_region_sales_v1")]

    operations = [
        migrations.RunSQL(
            sql=f"SELECT summa.define('region_sales', '{V2}', '{{\"replica_identity_full\": true}}')",
            reverse_sql="SELECT summa.promote('region_sales', 1)",
        ),
    ]
