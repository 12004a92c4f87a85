"""A tiny application on the models.

    python app.py write N   insert N orders, then raise the amount of every 10th and delete
                            every 25th of them (each step its own transaction)
    python app.py read      print the summary rows, as JSON (values as text), by region

`read` selects `largest` only when the alias serves a version that has it (v2).
"""

import json
import sys
from decimal import Decimal

from sqlalchemy import create_engine, inspect, select
from sqlalchemy.orm import Session, undefer

from db import database_url
from models import Order, RegionSales

REGIONS = ["north", "south", "east", "west", "central"]


def write(engine, n: int) -> None:
    with Session(engine) as session:
        orders = [
            Order(region=REGIONS[i % len(REGIONS)], amount=Decimal(i * 37 % 1000) / 4)
            for i in range(n)
        ]
        session.add_all(orders)
        session.commit()
        for order in orders[::10]:
            order.amount += Decimal("1.25")
        session.commit()
        for order in orders[::25]:
            session.delete(order)
        session.commit()


def read(engine) -> list[dict]:
    with Session(engine) as session:
        columns = {c["name"] for c in inspect(session.connection()).get_columns("region_sales")}
        query = select(RegionSales).order_by(RegionSales.region)
        fields = ["region", "orders", "total"]
        if "largest" in columns:
            query = query.options(undefer(RegionSales.largest))
            fields.append("largest")
        rows = session.scalars(query).all()
        return [
            {f: None if getattr(r, f) is None else str(getattr(r, f)) for f in fields}
            for r in rows
        ]


def main(argv: list[str]) -> None:
    engine = create_engine(database_url())
    if argv[:1] == ["write"] and len(argv) == 2:
        write(engine, int(argv[1]))
    elif argv == ["read"]:
        print(json.dumps(read(engine)))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
