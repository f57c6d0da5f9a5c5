"""The one tiny query a live lookup makes: are the cached grids and people still current?

Why not a SQLAlchemy session: a session per request costs a pool checkout with pre-ping, the
query and a commit — three round trips and most of a lookup's CPU. The probe keeps a few libpq
connections (autocommit: libpq without BEGIN), runs one server-side *prepared* statement that
reads two single-row counters (``boundary_revisions`` of migration 0002, ``staff_revisions`` of
migration 0007, both bumped by triggers whoever writes) as ready-made tokens, and nothing else.
It talks to ``psycopg.pq`` directly: the cursor layer (adaptation, result loading) cost four
times the query itself, for two short strings.

Why awaited in the event loop: the read is a send and one wait for the socket to become
readable. Run in the thread pool (as it was) a lookup paid two thread hops and a GIL hand-over
per request — more than the query; here the loop serves other requests while PostgreSQL
answers. Connecting (rare: once per pooled connection) is awaited in the loop too, through
libpq's non-blocking connect: a blocking ``PQconnectdb`` in a worker thread holds the GIL for
the whole attempt, so while the database did not answer (an outage that times out) it froze
every request of the process — including the lookups answered from memory — for the connect
timeout.

Why a query at all and not LISTEN/NOTIFY: a notification reaches the listening connection some
time *after* the writer's COMMIT has returned, so a lookup sent right after an edit could miss
it. A statement that starts after the request arrived sees every commit that returned before —
"the very next lookup reflects the edit" holds deterministically.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import psycopg
from psycopg import pq
from psycopg.conninfo import make_conninfo
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

__all__ = ["RevisionProbe", "Revisions", "conninfo_from_url", "read_revisions"]

log = logging.getLogger(__name__)

_NAME = b"geogrid_locate_probe"
# The tokens are built server-side exactly as geogrid.locate.index.revision_token builds them
# (extract() returns an exact numeric since PostgreSQL 14). One text for the prepared statement
# and for read_revisions(), so both read the same thing.
_SELECT = """
SELECT b.revision || '@' || (extract(epoch FROM b.changed_at) * 1000000)::bigint,
       s.revision || '@' || (extract(epoch FROM s.changed_at) * 1000000)::bigint
FROM (SELECT {district}::text AS d) AS k
LEFT JOIN boundary_revisions b ON b.district_adcode = k.d
LEFT JOIN staff_revisions s ON s.district_adcode = k.d
"""
_SQL = _SELECT.format(district="$1").encode()
_SESSION_SQL = text(_SELECT.format(district="CAST(:d AS text)"))


@dataclass(frozen=True)
class Revisions:
    """Revision tokens (see :func:`~geogrid.locate.index.revision_token`) of one district:
    ``"0"`` for a district never changed since the counters exist."""

    boundary: str
    staff: str

    @classmethod
    def from_values(cls, boundary: bytes | str | None, staff: bytes | str | None) -> Revisions:
        def token(value: bytes | str | None) -> str:
            if not value:
                return "0"
            return value.decode() if isinstance(value, bytes) else value

        return cls(token(boundary), token(staff))


def conninfo_from_url(url: str) -> str:
    """A libpq connection string from a SQLAlchemy URL (``postgresql+psycopg://…``).

    >>> conninfo_from_url("postgresql+psycopg://u:p@127.0.0.1:5432/db")
    'postgresql://u:p@127.0.0.1:5432/db'
    """
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def read_revisions(session: Session, district_adcode: str) -> Revisions:
    """The district's revisions read through ``session`` (the probe's query, unprepared):
    what a reload labels the state it loads next in the same session with."""
    boundary, staff = session.execute(_SESSION_SQL, {"d": district_adcode}).one()
    return Revisions.from_values(boundary, staff)


class RevisionProbe:
    """Reads the revisions of a district on reused connections, awaited in the event loop.
    Use it from one event loop at a time (the app's).

    Concurrent reads of one district share a query, group-commit style: a read waits for the
    next query that *starts* after it was asked (never one already running), so every caller
    still sees every commit that returned before it asked, and under load one round trip
    serves every request that arrived during the previous one. A lone read costs one round
    trip, as before.

    A broken connection (server restarted, statement gone) is replaced and the read retried
    once — what ``pool_pre_ping`` gives the engine, without paying a ping on every request.
    """

    def __init__(self, conninfo: str, *, timeout_s: float = 3.0) -> None:
        # connect_timeout bounds a connection attempt in libpq (2 s at the least); the read
        # itself is bounded in the loop, so a server that stops answering makes the read fail
        # in ``timeout_s`` instead of hanging every lookup that waits on it.
        self._conninfo = make_conninfo(
            conninfo,
            application_name="geogrid-locate-probe",
            connect_timeout=str(max(2, round(timeout_s))),
        ).encode()
        self._timeout_s = timeout_s
        self._idle: list[pq.abc.PGconn] = []
        # Per district: the future the next query fills, and whether a query is running.
        self._next: dict[bytes, asyncio.Future[Revisions]] = {}
        self._running: set[bytes] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.queries = 0

    async def _connect(self) -> pq.abc.PGconn:
        """A new connection with the statement prepared, within ``timeout_s``."""
        conn = pq.PGconn.connect_start(self._conninfo)
        try:
            async with asyncio.timeout(self._timeout_s):
                while (status := conn.connect_poll()) != pq.PollingStatus.OK:
                    if status == pq.PollingStatus.FAILED:
                        raise psycopg.OperationalError(
                            f"locate probe cannot connect: {conn.get_error_message()}"
                        )
                    await _ready(conn.socket, write=status == pq.PollingStatus.WRITING)
                conn.nonblocking = 1
                conn.send_prepare(_NAME, _SQL)
                await _flush(conn)
                error = None
                for result in await _results(conn):
                    if result.status != pq.ExecStatus.COMMAND_OK:
                        error = conn.get_error_message() or str(result.status)
                if error is not None:
                    raise psycopg.OperationalError(
                        f"locate probe cannot prepare its query: {error}"
                    )
        except TimeoutError:
            conn.finish()
            raise psycopg.OperationalError(
                f"locate probe cannot connect: timeout expired after {self._timeout_s} s"
            ) from None
        except BaseException:
            conn.finish()
            raise
        return conn

    async def read(self, district_adcode: str) -> Revisions:
        """The district's boundary and staff revisions as committed right now (by a query
        that starts after this call)."""
        district = district_adcode.encode()
        waiter = self._next.get(district)
        if waiter is None:
            waiter = self._next[district] = asyncio.get_running_loop().create_future()
            if district not in self._running:
                self._running.add(district)
                task = asyncio.create_task(self._serve(district))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        # Shielded: a caller that goes away must not cancel the answer of the others.
        return await asyncio.shield(waiter)

    async def _serve(self, district: bytes) -> None:
        """Run queries for the district while callers wait for one."""
        try:
            while (waiter := self._next.pop(district, None)) is not None:
                # Popped before the query starts: whoever asks from now on waits for the next.
                try:
                    # One Revisions per query, shared by its waiters.
                    waiter.set_result(Revisions.from_values(*await self._read(district)))
                except Exception as exc:  # every waiter gets it; the probe keeps serving
                    waiter.set_exception(exc)
        finally:
            self._running.discard(district)

    async def _read(self, district: bytes) -> tuple[bytes | None, bytes | None]:
        conn = self._idle.pop() if self._idle else await self._connect()
        self.queries += 1
        try:
            try:
                values = await self._bounded_query(conn, district)
            except psycopg.OperationalError as exc:
                log.info("locate probe failed (%s); reconnecting", exc)
                conn.finish()
                conn = await self._connect()
                values = await self._bounded_query(conn, district)
        except BaseException:
            # Failed, or cancelled mid-query (the loop is closing): the connection may hold
            # a half-read answer, so it is not reused.
            conn.finish()
            raise
        if self._closed:
            conn.finish()
        else:
            self._idle.append(conn)
        return values

    async def _bounded_query(
        self, conn: pq.abc.PGconn, district: bytes
    ) -> tuple[bytes | None, bytes | None]:
        """The probe query, failing as a lost connection after ``timeout_s`` without answer."""
        try:
            async with asyncio.timeout(self._timeout_s):
                return await _query(conn, district)
        except TimeoutError:
            raise psycopg.OperationalError(
                f"locate probe failed: timeout expired after {self._timeout_s} s"
            ) from None

    @property
    def idle_connections(self) -> int:
        """Connections waiting for the next read (tests check the pool stays small)."""
        return len(self._idle)

    def backend_pids(self) -> list[int]:
        """Server process ids of the idle connections (tests terminate one)."""
        return [conn.backend_pid for conn in self._idle]

    def close(self) -> None:
        """Close the idle connections; reads still running close theirs when they finish."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.finish()


async def _flush(conn: pq.abc.PGconn) -> None:
    """Send what libpq buffered, waiting in the event loop while the socket is full."""
    while conn.flush():
        await _ready(conn.socket, write=True)


async def _results(conn: pq.abc.PGconn) -> list[pq.abc.PGresult]:
    """Every result of the command sent, waiting in the event loop for each."""
    results: list[pq.abc.PGresult] = []
    while True:
        conn.consume_input()
        if conn.is_busy():
            await _ready(conn.socket)
            continue
        result = conn.get_result()
        if result is None:
            return results
        results.append(result)


async def _query(conn: pq.abc.PGconn, district: bytes) -> tuple[bytes | None, bytes | None]:
    """Run the prepared probe on a non-blocking connection, waiting in the event loop."""
    conn.send_query_prepared(_NAME, [district])
    await _flush(conn)
    row: tuple[bytes | None, bytes | None] | None = None
    error: str | None = None
    for result in await _results(conn):
        if result.status == pq.ExecStatus.TUPLES_OK and result.ntuples == 1:
            row = result.get_value(0, 0), result.get_value(0, 1)
        else:
            error = str(conn.get_error_message()) or str(result.status)
    if row is None:
        raise psycopg.OperationalError(f"locate probe failed: {error}")
    return row


async def _ready(fd: int, *, write: bool = False) -> None:
    """Wait until ``fd`` can be read (or written) without blocking."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def wake() -> None:
        if not done.done():
            done.set_result(None)

    if write:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await done
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)
