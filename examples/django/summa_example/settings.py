"""Settings of the example: just the database (from DATABASE_URL) and the app `sales`."""

import os
from urllib.parse import parse_qsl, unquote, urlsplit


def database_from_url(url: str) -> dict:
    """postgres://user:password@host:port/name?sslmode=… as Django's DATABASES entry."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"DATABASE_URL: not a PostgreSQL URL: {url}")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "OPTIONS": dict(parse_qsl(parts.query)),
    }


if "DATABASE_URL" not in os.environ:
    raise SystemExit("set DATABASE_URL, e.g. postgres://app@127.0.0.1:5432/shop")

DATABASES = {"default": database_from_url(os.environ["DATABASE_URL"])}
INSTALLED_APPS = ["sales"]
SECRET_KEY = "example-only"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
