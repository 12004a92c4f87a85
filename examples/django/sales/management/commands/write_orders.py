from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction

from sales.models import Order

REGIONS = ["north", "south", "east", "west", "central"]


class Command(BaseCommand):
    help = (
        "Insert N orders, then raise the amount of every 10th and delete every 25th of them "
        "(each step its own transaction)."
    )

    def add_arguments(self, parser):
        parser.add_argument("n", type=int)

    def handle(self, n, **options):
        with transaction.atomic():
            orders = Order.objects.bulk_create(
                Order(region=REGIONS[i % len(REGIONS)], amount=Decimal(i * 37 % 1000) / 4)
                for i in range(n)
            )
        with transaction.atomic():
            for order in orders[::10]:
                order.amount += Decimal("1.25")
                order.save(update_fields=["amount"])
        with transaction.atomic():
            Order.objects.filter(pk__in=[o.pk for o in orders[::25]]).delete()
