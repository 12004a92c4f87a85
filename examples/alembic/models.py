"""SQLAlchemy models: the source table `orders` and the summary `region_sales`.

`region_sales` is the alias view summa serves (always the promoted version). To pin the
application to one version instead, map `region_sales__v2` (see README.md).
"""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime, Identity, Numeric, String, event, func
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    region: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class RegionSales(Base):
    """Read-only: summa maintains it from `orders`; the session refuses to write it."""

    __tablename__ = "region_sales"  # the alias view; or "region_sales__v2"
    # A view: migrations/env.py keeps Alembic's autogenerate away from it.
    __table_args__ = {"info": {"is_view": True}}

    # The group key: unique in every version (summa's unique index on the versioned table).
    region: Mapped[str] = mapped_column(String(20), primary_key=True)
    orders: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[Decimal | None] = mapped_column(Numeric)
    # v2's column (migration 0003): deferred, so a query selects it only when asked for,
    # and the same code reads v1 (before the promote, or after a downgrade) too.
    largest: Mapped[Decimal | None] = mapped_column(Numeric, deferred=True)


@event.listens_for(Session, "before_flush")
def _summaries_are_read_only(session, flush_context, instances):
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, RegionSales):
            raise TypeError("region_sales is a summa summary: it is read-only")
