from django.db import migrations

V1 = "SELECT region, count(*) AS orders, sum(amount) AS total FROM orders GROUP BY region"


class Migration(migrations.Migration):
    """Summary region_sales, v1: orders and total by region.

    summa.define only records the request. Django runs each migration in a transaction of its
    own on PostgreSQL, so the request commits with this migration; then the running sidecar
    (`summa run`) builds table region_sales__v1 and the alias view region_sales. Nothing is
    built inside the migration, which stays short.
    """

    dependencies = [("sales", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql=f"SELECT summa.define('region_sales', '{V1}', '{{\"replica_identity_full\": true}}')",
            # The alias and every version's table.
            reverse_sql="SELECT summa.drop('region_sales')",
        ),
    ]
