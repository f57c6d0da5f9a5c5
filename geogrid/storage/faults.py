"""Tell "the database is away" from "the code is wrong": one classification for every caller.

Why: when PostgreSQL stops, restarts, turns read-only or cannot be reached, every route used to
answer ``500 Internal error``, so a client could not tell "try again shortly" from "your report
is wrong". :func:`database_fault` looks at an exception raised while talking to the database
(SQLAlchemy's wrappers, psycopg's own errors, the pool's timeout, the locate probe's) and
returns a :class:`~geogrid.errors.DatabaseUnavailableError` when the same request may succeed
later — the web layer answers it 503 with ``Retry-After``, the CLI prints
"database unreachable at host:port (…)" — or None when it is a real error (a constraint, a
bug), which stays a 500.

What counts as unavailable, by SQLSTATE class or code: connection exceptions (``08``), the
server shutting down, crashed or starting up (``57P01``–``57P03``), too many connections or no
resources (``53``), a read-only server (``25006``: a standby, or
``default_transaction_read_only``), and the time limits of the app's engine — a lock wait
(``55P03``) or a statement (``57014``) that ran out. An ``OperationalError`` without a SQLSTATE
is a libpq-side failure (refused, timed out, connection lost) and counts too; so does using a
connection that the server already closed.

The reason given is one of a few fixed phrases (``connection refused``, ``timeout expired``...)
picked from the driver's message, never the message itself: libpq's text names users, hosts
and file paths, which clients must not see.
"""

from __future__ import annotations

from typing import Final

import psycopg
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from geogrid.errors import DatabaseUnavailableError

__all__ = ["classify_fault", "database_fault", "database_location", "fault_reason"]

#: SQLSTATEs (exact codes, or two-character classes) that mean "try again later".
_UNREACHABLE_STATES: Final = {"57P01", "57P02", "57P03", "08"}
_READ_ONLY_STATES: Final = {"25006"}
_BUSY_STATES: Final = {"55P03", "57014", "53"}

#: Phrases of libpq and PostgreSQL messages, in the order they are looked for, and the reason
#: shown for each (lower case: they are matched against the lowered message).
_REASONS: Final = (
    ("connection refused", "connection refused"),
    ("timeout expired", "timeout expired"),
    ("timed out", "timeout expired"),
    ("could not translate host name", "unknown host name"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network unreachable"),
    ("starting up", "the database system is starting up"),
    ("shutting down", "the database system is shutting down"),
    ("in recovery mode", "the database system is in recovery"),
    ("administrator command", "connection terminated by the server"),
    ("terminating connection", "connection terminated by the server"),
    ("server closed the connection", "connection lost"),
    ("connection is lost", "connection lost"),
    ("connection is closed", "connection lost"),
    ("consuming input failed", "connection lost"),
    ("eof detected", "connection lost"),
    ("broken pipe", "connection lost"),
    ("connection reset", "connection lost"),
    ("read-only transaction", "the database is read-only"),
    ("lock timeout", "lock wait timed out"),
    ("statement timeout", "statement timed out"),
    ("too many clients", "too many connections"),
    ("queuepool limit", "every pooled connection is busy"),
)

_DETAILS: Final = {
    "unreachable": "The database cannot be reached ({reason}).",
    "read_only": "The database is read-only just now ({reason}): nothing can be changed.",
    "busy": "The database is too busy to answer in time ({reason}).",
}


def database_location(database_url: str) -> str:
    """``host:port`` of a database URL, for operators (the password and user are left out).

    >>> database_location("postgresql+psycopg://u:secret@db.example:6543/geogrid")
    'db.example:6543'
    >>> database_location("postgresql+psycopg://u@/geogrid")
    'localhost:5432'
    """
    url = make_url(database_url)
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def fault_reason(message: str, default: str = "connection failed") -> str:
    """The fixed phrase that names what ``message`` (a driver's text) reports.

    >>> fault_reason('connection to server at "10.0.0.5", port 5432 failed: Connection refused')
    'connection refused'
    >>> fault_reason('password authentication failed for user "nobody"')
    'connection failed'
    """
    lowered = message.lower()
    for phrase, reason in _REASONS:
        if phrase in lowered:
            return reason
    return default


def _state_of(error: psycopg.Error) -> str | None:
    """``unreachable``, ``read_only`` or ``busy`` for an error that means "later", else None."""
    sqlstate = error.sqlstate
    if sqlstate is None:
        # no SQLSTATE: the failure happened in libpq (refused, timeout, connection lost)
        # or in psycopg on a connection already closed
        if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
            return "unreachable"
        return None
    for state, codes in (
        ("unreachable", _UNREACHABLE_STATES),
        ("read_only", _READ_ONLY_STATES),
        ("busy", _BUSY_STATES),
    ):
        if sqlstate in codes or sqlstate[:2] in codes:
            return state
    return None


def database_fault(
    error: BaseException, *, database_url: str, retry_after_s: int
) -> DatabaseUnavailableError | None:
    """The 503 that ``error`` amounts to, or None when it is not the database being away.

    ``database_url`` names the server for operators (:func:`database_location`);
    ``retry_after_s`` is what clients are told to wait.

    >>> fault = database_fault(
    ...     psycopg.OperationalError("connection failed: Connection refused"),
    ...     database_url="postgresql://u:p@127.0.0.1:5432/db",
    ...     retry_after_s=5,
    ... )
    >>> fault.operator_message
    'database unreachable at 127.0.0.1:5432 (connection refused)'
    >>> database_fault(ValueError("x"), database_url="postgresql://h/db", retry_after_s=5) is None
    True
    """
    if isinstance(error, DatabaseUnavailableError):
        return error
    fault = classify_fault(error)
    if fault is None:
        return None
    state, reason = fault
    detail = (
        _DETAILS[state].format(reason=reason)
        + f" Nothing is wrong with the request: send it again in {retry_after_s} s."
    )
    return DatabaseUnavailableError(
        detail,
        state=state,
        reason=reason,
        where=database_location(database_url),
        retry_after_s=retry_after_s,
    )


def classify_fault(error: BaseException) -> tuple[str, str] | None:
    """``(state, reason)`` of an error that means "the database is away, try later" —
    state ``unreachable``, ``read_only`` or ``busy``, reason a fixed phrase — or None.

    >>> classify_fault(psycopg.OperationalError("server closed the connection unexpectedly"))
    ('unreachable', 'connection lost')
    >>> classify_fault(psycopg.errors.UniqueViolation("duplicate key")) is None
    True
    """
    state: str | None
    message = str(error)
    if isinstance(error, DatabaseUnavailableError):
        return error.state, error.reason
    if isinstance(error, sa_exc.TimeoutError):  # the pool: every connection is checked out
        state = "busy"
    elif isinstance(error, sa_exc.DBAPIError):
        original = error.orig
        if isinstance(original, psycopg.Error):
            state = _state_of(original)
            message = str(original)
        else:
            state = None
        if state is None and error.connection_invalidated:
            state = "unreachable"
    elif isinstance(error, psycopg.Error):
        state = _state_of(error)
    else:
        state = None
    if state is None:
        return None
    return state, fault_reason(message)
