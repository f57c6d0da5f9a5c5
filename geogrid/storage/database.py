"""Engine and session factories.

The caller (a request, a CLI command, a test) owns the transaction: repositories only flush.

Every engine fails fast when the database goes away: a connection attempt gives up after
``database_connect_timeout_s`` (libpq ``connect_timeout``; TCP keepalives and
``tcp_user_timeout`` end connections whose peer vanished), so requests answer 503 within a few
seconds instead of piling up (:mod:`geogrid.storage.faults` tells an outage from a bug). The
app's engine also bounds how long a statement may wait for a lock or run
(``request_timeouts``): a request stuck behind a forgotten transaction answers 503 and frees
its connection. CLI commands (imports, the demo load) are not bounded that way: they are
watched by the person who started them and may legitimately run long statements.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from geogrid.settings import Settings

__all__ = [
    "connect_args",
    "create_db_engine",
    "database_read_only",
    "make_session_factory",
    "postgis_version",
    "session_scope",
]


def connect_args(settings: Settings, *, request_timeouts: bool = False) -> dict[str, object]:
    """libpq parameters of every connection: time limits, keepalives and application_name.

    With ``request_timeouts``, ``lock_timeout`` and ``statement_timeout`` are set through
    ``options`` (added to any ``options`` the URL already carries, which would otherwise be
    replaced), and JIT compilation is off: a request's queries are short, but the row-security
    policies' subplans make the planner cost them in the hundreds of millions, above
    ``jit_above_cost``, and compiling then took longer than running (at the province, 0.66 s
    of a 1.2 s per-grid count; tiles had been setting it off for the same reason).

    >>> from geogrid.settings import Settings
    >>> args = connect_args(Settings(database_url="postgresql://u:p@h/db"), request_timeouts=True)
    >>> args["connect_timeout"], args["options"]
    (3, '-c lock_timeout=15000 -c statement_timeout=60000 -c jit=off')
    """
    args: dict[str, object] = {
        "connect_timeout": settings.database_connect_timeout_s,
        "application_name": settings.database_application_name,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        # unacknowledged data older than this ends the connection (a peer that vanished)
        "tcp_user_timeout": 30_000,
    }
    if request_timeouts:
        gucs = {
            "lock_timeout": settings.database_lock_timeout_s,
            "statement_timeout": settings.database_statement_timeout_s,
        }
        mine = " ".join(f"-c {name}={round(seconds * 1000)}" for name, seconds in gucs.items())
        mine += " -c jit=off"
        given = make_url(settings.database_url).query.get("options")
        given_text = given if isinstance(given, str) else " ".join(given or ())
        args["options"] = f"{given_text} {mine}".strip()
    return args


def create_db_engine(
    settings: Settings, *, request_timeouts: bool = False, **kwargs: object
) -> Engine:
    """An engine for ``settings.database_url`` with pre-ping, so a restarted server is survived,
    and the time limits of :func:`connect_args` (the app passes ``request_timeouts=True``).

    SQL parameters are hidden from errors (``hide_parameters``): a failed statement is logged,
    and its parameters hold reporters' phones and e-mails, passwords' hashes and tokens.
    """
    options: dict[str, object] = {
        "pool_pre_ping": True,
        "pool_size": 10,
        "max_overflow": 10,
        "pool_timeout": settings.database_pool_timeout_s,
        "connect_args": connect_args(settings, request_timeouts=request_timeouts),
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


def database_read_only(session: Session) -> bool:
    """Whether the session's transaction cannot write (a standby in recovery, or
    ``default_transaction_read_only``): writes would fail, so ``/health`` says so."""
    return str(session.execute(text("SHOW transaction_read_only")).scalar_one()) == "on"
