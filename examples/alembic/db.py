"""The database URL from the environment, for SQLAlchemy with psycopg 3."""

import os


def database_url() -> str:
    """DATABASE_URL (postgres://user@host:port/db), as SQLAlchemy's postgresql+psycopg:// URL."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("set DATABASE_URL, e.g. postgres://app@127.0.0.1:5432/shop")
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
