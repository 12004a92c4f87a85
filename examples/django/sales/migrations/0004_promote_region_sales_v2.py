from django.db import migrations


class Migration(migrations.Migration):
    """Serve region_sales v2 through the alias.

    Only a live version can be promoted. Django commits 0003 before this migration starts,
    so it may wait for v2 here; a deploy step that runs
    `SELECT summa.wait_live('region_sales', 2, '10 minutes')` before `manage.py migrate`
    does the same without holding a migration open. Unapplying it is instant: v1 is live
    beside v2.
    """

    dependencies = [("sales", "0003_region_sales_v2")]

    operations = [
        migrations.RunSQL(
            sql=[
                "DO $$ BEGIN IF NOT summa.wait_live('region_sales', 2, '10 minutes') THEN "
                "RAISE EXCEPTION 'region_sales v2 is not live after 10 minutes: see summa.status'; "
                "END IF; END $$",
                "SELECT summa.promote('region_sales', 2)",
            ],
            reverse_sql="SELECT summa.promote('region_sales', 1)",
        ),
    ]
