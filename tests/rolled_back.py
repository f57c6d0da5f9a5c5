"""The real app with every request inside one transaction that is rolled back at the end.

Each request's commit only releases a savepoint, so a test sees its own writes (and, through
the same connection, can make its own: mark a worker away, cut a hole) and leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from geogrid.settings import Settings
from geogrid.storage.database import session_scope

__all__ = ["rolled_back_app"]


@contextmanager
def rolled_back_app(
    settings: Settings, engine: Engine, *, role: str | None = "admin"
) -> Iterator[tuple[TestClient, Connection, FastAPI]]:
    """The app and its client, logged in as the test login of ``role`` (``None``: the public),
    with the test's connection (in the transaction) and the app."""
    from api.deps import get_session
    from api.main import create_app
    from tests.logins import ensure_test_logins

    headers = None if role is None else ensure_test_logins(engine)[role].headers

    conn = engine.connect()
    trans = conn.begin()
    # No live locator: its probe reads committed data on its own connections, while this
    # app's requests must see the test transaction; every lookup takes the request session.
    app = create_app(settings.model_copy(update={"locate_live": False}))
    factory = sessionmaker(bind=conn, join_transaction_mode="create_savepoint")

    def session_in_test_transaction() -> Iterator[Session]:
        with session_scope(factory) as session:
            yield session

    app.dependency_overrides[get_session] = session_in_test_transaction
    try:
        with TestClient(app, raise_server_exceptions=False, headers=headers) as test_client:
            yield test_client, conn, app
    finally:
        trans.rollback()
        conn.close()
