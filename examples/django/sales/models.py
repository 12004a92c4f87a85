"""The source table `orders` (managed by Django) and the summary `region_sales` (summa's)."""

from django.db import models
from django.db.models.functions import Now


class Order(models.Model):
    region = models.CharField(max_length=20)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "orders"


class RegionSales(models.Model):
    """Read-only: summa maintains it from `orders`. Unmanaged: migrations never create,
    alter or drop it (they call summa.define and summa.promote instead)."""

    # The group key: unique in every version. Django needs a primary key; this is it.
    region = models.CharField(max_length=20, primary_key=True)
    orders = models.BigIntegerField()
    total = models.DecimalField(max_digits=20, decimal_places=2, null=True)
    # v2's column (migration 0003); read it only while v2 serves (see read_summary).
    largest = models.DecimalField(max_digits=10, decimal_places=2, null=True)

    class Meta:
        managed = False
        db_table = "region_sales"  # the alias view; or "region_sales__v2"

    def save(self, *args, **kwargs):
        raise TypeError("region_sales is a summa summary: it is read-only")

    def delete(self, *args, **kwargs):
        raise TypeError("region_sales is a summa summary: it is read-only")
