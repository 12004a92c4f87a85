"""Alembic's environment: online migrations only, one transaction per migration."""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

from db import database_url
from models import Base


if context.config.config_file_name is not None:
    fileConfig(context.config.config_file_name)


def include_object(obj, name, type_, reflected, compare_to):
    # summa owns the summaries (alias views and versioned tables): autogenerate must neither
    # create the mapped view nor drop what summa built.
    if type_ == "table":
        if obj.info.get("is_view") or name.startswith("region_sales"):
            return False
    return True


def run_migrations_online() -> None:
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            include_object=include_object,
            # Each migration commits on its own: a summa.define in one migration is seen by the
            # sidecar once that migration committed, so a later migration of the same
            # `alembic upgrade` may wait for it (summa.wait_live) and promote it.
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("this example runs migrations online only")
run_migrations_online()
