import json

from django.core.management.base import BaseCommand
from django.db import connection

from sales.models import RegionSales


class Command(BaseCommand):
    help = (
        "Print region_sales by region as JSON (values as text). Reads `largest` only when the "
        "alias serves a version that has it (v2), so it works before and after the promote."
    )

    def handle(self, **options):
        with connection.cursor() as cursor:
            columns = {
                c.name for c in connection.introspection.get_table_description(cursor, "region_sales")
            }
        fields = ["region", "orders", "total"]
        rows = RegionSales.objects.order_by("region")
        if "largest" in columns:
            fields.append("largest")
        else:
            rows = rows.defer("largest")
        out = [
            {f: None if getattr(r, f) is None else str(getattr(r, f)) for f in fields}
            for r in rows
        ]
        self.stdout.write(json.dumps(out))
