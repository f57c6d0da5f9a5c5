"""Databases of a test's own: cloned from the PostGIS template, dropped afterwards.

They are created as the schema's owner role, which may create databases (the application role,
as in production, may not), and reached with the suite's two roles, on the new database.
"""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from geogrid.settings import Settings

__all__ = ["creator_engine", "database_env", "on_database"]


def _moved(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def creator_engine(settings: Settings) -> Engine:
    """An autocommit engine on the cluster's ``postgres`` database as the owner role (which
    has CREATEDB), to create and drop scratch databases with."""
    return create_engine(
        _moved(settings.owner_database_url, "postgres"), isolation_level="AUTOCOMMIT"
    )


def on_database(settings: Settings, name: str) -> Settings:
    """``settings`` with both roles' URLs on database ``name``."""
    update = {"database_url": _moved(settings.database_url, name)}
    if settings.database_owner_url:
        update["database_owner_url"] = _moved(settings.database_owner_url, name)
    return settings.model_copy(update=update)


def database_env(settings: Settings) -> dict[str, str]:
    """The environment of a ``geogrid`` process on ``settings``' database, as both roles."""
    env = {"GEOGRID_DATABASE_URL": settings.database_url}
    if settings.database_owner_url:
        env["GEOGRID_DATABASE_OWNER_URL"] = settings.database_owner_url
    return env
