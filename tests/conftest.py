"""Shared fixtures: a real PostGIS database, migrated once, the demo loaded once, first.

The database comes from ``GEOGRID_TEST_DATABASE_URL`` (scripts/test sets it); a database that
cannot be reached is a failure, never a skip. As in a deployment, that URL is the application
role's, which owns no table, and ``GEOGRID_TEST_DATABASE_OWNER_URL`` the schema owner's, which
migrates and loads the demo (scripts/test sets both; without the second, the one role does
everything). Each ``db`` test runs in a transaction that is rolled back, so tests do not see
each other's writes.

The suite never reads a deployment's settings file (``.geogrid/geogrid.env``), neither here
nor in the ``geogrid`` processes it starts: its databases are the ``GEOGRID_TEST_*`` ones.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geogrid.auth.privacy import ReporterCipher, bind_cipher
from geogrid.settings import Settings
from geogrid.storage.database import create_db_engine
from tests.logins import TEST_REPORTER_KEY, TestLogin

DEFAULT_TEST_URL = "postgresql+psycopg://geogrid:geogrid@127.0.0.1:5432/geogrid_test"

os.environ["GEOGRID_ENV_FILE"] = os.devnull


@pytest.fixture(scope="session")
def settings() -> Settings:
    url = os.environ.get("GEOGRID_TEST_DATABASE_URL", DEFAULT_TEST_URL)
    owner_url = os.environ.get("GEOGRID_TEST_DATABASE_OWNER_URL", "")
    # The suite files thousands of reports from one address: the per-client rate limits are
    # off here and tested on their own (tests/test_limits.py). A key of the test run:
    # reporters' contacts are encrypted at rest, as in production.
    return Settings(
        database_url=url,
        database_owner_url=owner_url,
        rate_limit_reports=0,
        rate_limit_public=0,
        reporter_keys=TEST_REPORTER_KEY,
    )


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    from geogrid.demo.load import load_demo
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
    upgrade(settings)  # as the owner, which then grants the application role its rights
    # Every test sees the demo district, whatever order the files run in (loaded once per
    # test database; a second load is a no-op), loaded as command 1 loads it: by the owner.
    owner = create_db_engine(settings.as_owner())
    try:
        load_demo(owner, seed=settings.demo_seed, progress=False)
    finally:
        owner.dispose()
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def owner_engine(settings: Settings, engine: Engine) -> Iterator[Engine]:
    """The test database as the schema's owner (the same engine's role when there is one role
    only): for what the application role may not do (DDL, ``TRUNCATE``, ``ANALYZE``)."""
    owner = create_db_engine(settings.as_owner())
    yield owner
    owner.dispose()


@pytest.fixture(scope="session")
def logins(engine: Engine) -> dict[str, TestLogin]:
    """A committed login per role (``test-admin``, ``test-street_officer``...) with a live
    bearer token each; ``logins[role].headers`` authenticates a request."""
    from tests.logins import ensure_test_logins

    return ensure_test_logins(engine)


@pytest.fixture(scope="session")
def admin_headers(logins: dict[str, TestLogin]) -> dict[str, str]:
    """The test admin's ``Authorization`` header."""
    return dict(logins["admin"].headers)


@pytest.fixture(scope="session")
def demo(engine: Engine) -> Engine:
    """The engine, with the Huazhou demo district loaded (the ``engine`` fixture loads it)."""
    return engine


@pytest.fixture(scope="session")
def demo_clock(demo: Engine) -> datetime:
    """The demo's own reference time: one second after its last reported issue.

    The demo is generated relative to its load time, so windows a test computes from here hold
    the same issues whatever today's date is, and do not mix the test's clock with the
    database server's (which a test run under a moved clock does not share).
    """
    with demo.connect() as conn:
        latest: datetime = conn.execute(
            text("SELECT max(reported_at) FROM issues WHERE district_adcode = '610503'")
        ).scalar_one()
    return latest + timedelta(seconds=1)


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    conn = engine.connect()
    trans = conn.begin()
    session = Session(bind=conn, join_transaction_mode="create_savepoint")
    bind_cipher(session, ReporterCipher((TEST_REPORTER_KEY,)))
    try:
        yield session
    finally:
        session.close()
        trans.rollback()
        conn.close()


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """The real app, logged in as the test admin, whose requests all run inside one
    transaction rolled back after the test.

    Each request's commit only releases a savepoint, so tests see their own writes and leave
    nothing behind. Tests that need real commits (concurrency, another process) use
    ``committing_client`` and clean up after themselves. Other roles: ``client_as``.
    """
    from tests.rolled_back import rolled_back_app

    with rolled_back_app(settings, engine) as (test_client, _, _):
        yield test_client


@pytest.fixture
def client_as(
    settings: Settings, engine: Engine, logins: dict[str, TestLogin]
) -> Iterator[Callable[[str | None], TestClient]]:
    """``client_as("grid_worker")``: the rolled-back app as that role (``None``: the public).
    Every client of one test shares the test's transaction."""
    from tests.rolled_back import rolled_back_app

    with rolled_back_app(settings, engine, role=None) as (test_client, _, _):

        def as_role(role: str | None) -> TestClient:
            test_client.headers.pop("Authorization", None)
            if role is not None:
                test_client.headers.update(logins[role].headers)
            return test_client

        yield as_role


@pytest.fixture
def committing_client(
    settings: Settings, engine: Engine, admin_headers: dict[str, str]
) -> Iterator[TestClient]:
    """The real app with its own pool, logged in as the test admin: requests commit for real."""
    from api.main import create_app

    with TestClient(
        create_app(settings), raise_server_exceptions=False, headers=admin_headers
    ) as test_client:
        yield test_client
