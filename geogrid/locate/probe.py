"""The one tiny query a live lookup makes: are the cached grids and people still current?

Why not a SQLAlchemy session: a session per request costs a pool checkout with pre-ping, the
query and a commit — three round trips and most of a lookup's CPU. The probe keeps a few libpq
connections (autocommit: libpq without BEGIN), runs one server-side *prepared* statement that
reads two single-row counters (``boundary_revisions`` of migration 0002, ``staff_revisions`` of
migration 0007, both bumped by triggers whoever writes) as ready-made tokens, and nothing else.
It talks to ``psycopg.pq`` directly: the cursor layer (adaptation, result loading) cost four
times the query itself, for two short strings. The GIL is released while libpq waits.

Why a query at all and not LISTEN/NOTIFY: a notification reaches the listening connection some
time *after* the writer's COMMIT has returned, so a lookup sent right after an edit could miss
it. A statement that starts after the request arrived sees every commit that returned before —
"the very next lookup reflects the edit" holds deterministically.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import psycopg
from psycopg import pq
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

__all__ = ["RevisionProbe", "Revisions", "conninfo_from_url"]

log = logging.getLogger(__name__)

_NAME = b"geogrid_locate_probe"
# The tokens are built server-side exactly as geogrid.locate.index.revision_token builds them
# (extract() returns an exact numeric since PostgreSQL 14).
_SQL = b"""
SELECT b.revision || '@' || (extract(epoch FROM b.changed_at) * 1000000)::bigint,
       s.revision || '@' || (extract(epoch FROM s.changed_at) * 1000000)::bigint
FROM (SELECT $1::text AS d) AS k
LEFT JOIN boundary_revisions b ON b.district_adcode = k.d
LEFT JOIN staff_revisions s ON s.district_adcode = k.d
"""

#: Connections per probe. A read holds one for tens of microseconds, so a few serve thousands
#: of lookups a second; more concurrent readers wait for one rather than opening their own.
MAX_CONNECTIONS = 8


@dataclass(frozen=True)
class Revisions:
    """Revision tokens (see :func:`~geogrid.locate.index.revision_token`) of one district:
    ``"0"`` for a district never changed since the counters exist."""

    boundary: str
    staff: str


def conninfo_from_url(url: str) -> str:
    """A libpq connection string from a SQLAlchemy URL (``postgresql+psycopg://…``).

    >>> conninfo_from_url("postgresql+psycopg://u:p@127.0.0.1:5432/db")
    'postgresql://u:p@127.0.0.1:5432/db'
    """
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class RevisionProbe:
    """Reads the revisions of a district on a reused connection. Thread-safe.

    A broken connection (server restarted, statement gone) is replaced and the read retried
    once — what ``pool_pre_ping`` gives the engine, without paying a ping on every request.
    """

    def __init__(self, conninfo: str, *, max_connections: int = MAX_CONNECTIONS) -> None:
        self._conninfo = make_conninfo(conninfo, application_name="geogrid-locate-probe").encode()
        self._idle: list[pq.abc.PGconn] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._closed = False

    def _connect(self) -> pq.abc.PGconn:
        conn = pq.PGconn.connect(self._conninfo)
        if conn.status != pq.ConnStatus.OK:
            message = conn.get_error_message()
            conn.finish()
            raise psycopg.OperationalError(f"locate probe cannot connect: {message}")
        result = conn.prepare(_NAME, _SQL)
        if result.status != pq.ExecStatus.COMMAND_OK:
            message = conn.get_error_message()
            conn.finish()
            raise psycopg.OperationalError(f"locate probe cannot prepare its query: {message}")
        return conn

    def _take(self) -> pq.abc.PGconn:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _give(self, conn: pq.abc.PGconn) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(conn)
                return
        conn.finish()

    def read(self, district_adcode: str) -> Revisions:
        """The district's boundary and staff revisions as committed right now."""
        with self._slots:
            boundary, staff = self._read(district_adcode.encode())
        return Revisions(boundary.decode() if boundary else "0", staff.decode() if staff else "0")

    def _read(self, district: bytes) -> tuple[bytes | None, bytes | None]:
        conn = self._take()
        result = conn.exec_prepared(_NAME, [district])
        if result.status != pq.ExecStatus.TUPLES_OK:
            log.info("locate probe failed (%s); reconnecting", conn.get_error_message())
            conn.finish()
            conn = self._connect()
            result = conn.exec_prepared(_NAME, [district])
            if result.status != pq.ExecStatus.TUPLES_OK:
                message = conn.get_error_message()
                conn.finish()
                raise psycopg.OperationalError(f"locate probe failed: {message}")
        values = result.get_value(0, 0), result.get_value(0, 1)
        self._give(conn)
        return values

    def close(self) -> None:
        """Close the idle connections; probes still running close theirs when they finish."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.finish()
