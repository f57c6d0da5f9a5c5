"""Shared fixtures: a real PostGIS database, migrated once, the demo loaded once.

The database comes from ``GEOGRID_TEST_DATABASE_URL`` (scripts/test sets it); a database that
cannot be reached is a failure, never a skip. Each ``db`` test runs in a transaction that is
rolled back, so tests do not see each other's writes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geogrid.settings import Settings
from geogrid.storage.database import create_db_engine

DEFAULT_TEST_URL = "postgresql+psycopg://geogrid:geogrid@127.0.0.1:5432/geogrid_test"


@pytest.fixture(scope="session")
def settings() -> Settings:
    url = os.environ.get("GEOGRID_TEST_DATABASE_URL", DEFAULT_TEST_URL)
    return Settings(database_url=url)


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    from geogrid.storage.migrate import upgrade

    engine = create_db_engine(settings)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT postgis_lib_version()"))
    except Exception as exc:  # the message names the URL, so the fix is obvious
        pytest.fail(
            f"PostGIS test database {settings.database_url!r} is not reachable: {exc}. "
            "Run scripts/test, or set GEOGRID_TEST_DATABASE_URL.",
            pytrace=False,
        )
    upgrade(settings)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def demo(engine: Engine, settings: Settings) -> Engine:
    """The engine, with the Huazhou demo district loaded (once per test database)."""
    from geogrid.demo.load import load_demo

    load_demo(engine, seed=settings.demo_seed, progress=False)
    return engine


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    conn = engine.connect()
    trans = conn.begin()
    session = Session(bind=conn, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
        trans.rollback()
        conn.close()
