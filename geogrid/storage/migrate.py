"""Run Alembic migrations from code (CLI ``geogrid db migrate``, ``geogrid up``, the tests).

The configuration is built here rather than read from an ``alembic.ini`` so the installed
package migrates the database named by the settings, wherever it runs from. Migrations run as
the schema's owner (``Settings.owner_database_url``), which then grants the application role
its rights on what they made (:mod:`geogrid.storage.roles`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from geoalchemy2 import alembic_helpers
from sqlalchemy import text
from sqlalchemy.engine import Engine

from geogrid.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "include_object", "upgrade"]


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """What autogenerate compares: our tables, not PostGIS' own (spatial_ref_sys, topology)."""
    if type_ == "table" and reflected and compare_to is None:
        return False
    return bool(alembic_helpers.include_object(obj, name, type_, reflected, compare_to))


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' must be doubled for configparser; URLs with encoded passwords contain it.
    config.set_main_option("sqlalchemy.url", settings.owner_database_url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the schema to ``revision`` as its owner, then grant the application role its
    rights (idempotent)."""
    from geogrid.storage.roles import grant_application_role

    command.upgrade(alembic_config(settings), revision)
    grant_application_role(settings)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT to_regclass('alembic_version')")).scalar()
        if exists is None:
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
