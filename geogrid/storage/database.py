"""Engine and session factories.

The caller (a request, a CLI command, a test) owns the transaction: repositories only flush.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from geogrid.settings import Settings

__all__ = ["create_db_engine", "make_session_factory", "postgis_version", "session_scope"]


def create_db_engine(settings: Settings, **kwargs: object) -> Engine:
    """An engine for ``settings.database_url`` with pre-ping, so a restarted server is survived.

    SQL parameters are hidden from errors (``hide_parameters``): a failed statement is logged,
    and its parameters hold reporters' phones and e-mails, passwords' hashes and tokens.
    """
    options: dict[str, object] = {
        "pool_pre_ping": True,
        "pool_size": 10,
        "max_overflow": 10,
        "hide_parameters": True,
    }
    options.update(kwargs)
    return create_engine(settings.database_url, **options)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def postgis_version(session: Session) -> dict[str, str]:
    """PostgreSQL and PostGIS versions, for ``/health``."""
    pg = session.execute(text("SHOW server_version")).scalar_one()
    gis = session.execute(text("SELECT postgis_lib_version()")).scalar_one()
    return {"postgresql": str(pg), "postgis": str(gis)}
