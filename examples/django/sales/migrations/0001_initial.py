import django.db.models.functions.datetime
from django.db import migrations, models


class Migration(migrations.Migration):
    """The source table `orders`, and the summary's model (unmanaged: no table is created).

    summa reads the old values of an UPDATE or DELETE from the WAL. A summary of one table
    needs every column it reads there (region, amount), not just the primary key: that takes
    REPLICA IDENTITY FULL. Either here, as the table's owner:
        migrations.RunSQL("ALTER TABLE orders REPLICA IDENTITY FULL",
                          reverse_sql="ALTER TABLE orders REPLICA IDENTITY DEFAULT")
    or, as 0002 does, with the define option {"replica_identity_full": true} (the sidecar then
    sets it when it builds the summary; its role must own the table for that).
    """

    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Order",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("region", models.CharField(max_length=20)),
                ("amount", models.DecimalField(decimal_places=2, max_digits=10)),
                (
                    "created_at",
                    models.DateTimeField(db_default=django.db.models.functions.datetime.Now()),
                ),
            ],
            options={
                "db_table": "orders",
            },
        ),
        migrations.CreateModel(
            name="RegionSales",
            fields=[
                ("region", models.CharField(max_length=20, primary_key=True, serialize=False)),
                ("orders", models.BigIntegerField()),
                ("total", models.DecimalField(decimal_places=2, max_digits=20, null=True)),
                ("largest", models.DecimalField(decimal_places=2, max_digits=10, null=True)),
            ],
            options={
                "db_table": "region_sales",
                "managed": False,
            },
        ),
    ]
