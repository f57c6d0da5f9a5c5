"""Live point lookups from memory: one tiny revision probe per request, everything else cached.

Why: a lookup used to cost a SQLAlchemy session round trip (pool pre-ping, the signboard query,
commit) and a JSON rendering of the whole answer; both dominated the in-memory GEOS work by far.
Here a request costs:

1. :meth:`RevisionProbe.read <geogrid.locate.probe.RevisionProbe.read>` — one prepared
   single-row SELECT of the district's boundary *and* staff revisions on a raw autocommit
   connection, awaited in the event loop. It starts after the request arrived, so any edit whose
   COMMIT returned before (grids, grid versions, admin areas, staff, assignments, party
   organisations; by any process) is seen: the cached state is rebuilt (in a worker thread, the
   event loop keeps serving) before answering;
2. the point-in-polygon work on the in-memory :class:`~geogrid.locate.index.GridIndex`, mostly
   skipped: a point whose raster cell (:mod:`geogrid.locate.cells`) no grid or admin boundary
   crosses gets the answer key its cell got, computed once by the index's own rule at the
   cell's centre (:class:`_WholeCells`); only points in cells a boundary crosses (about one
   in six on the demo) pay for the GEOS queries;
3. a dictionary hit: the rendered answer (whatever ``render`` makes of a
   :class:`~geogrid.locate.chain.PointLocation`) per (deepest grid, dedicated grids, admin
   areas), kept until the revisions move or — for an "A post away until …" signboard — until
   that moment passes, when B stops covering.

What is cached per district: the index (shared with :class:`~geogrid.locate.index.IndexCache`),
the current staff and party organisations of every grid (one query,
:func:`~geogrid.locate.signboard.fetch_district_signboard_data`) and the rendered answers.
Answers are the ones :func:`~geogrid.locate.chain.locate_point` gives (tests compare them).
Past dates (``at``) and addresses are not handled here: they go to ``locate_point``.

When the database goes away (the probe, or a reload, meets a fault of
:func:`~geogrid.storage.faults.database_fault`), a district already in memory keeps answering
from the state it holds, marked stale: :class:`Staleness` — "boundaries as of revision R at
time T", T being the last moment the probe confirmed that state current. The mark travels next
to the cached answer, never inside it, so the first lookup after the database is back is the
plain answer again. A district never loaded raises the fault (nothing to answer from).

The app builds one locator in its lifespan (``api.main.create_app``) and closes its probe at
shutdown; nothing here is created on first use.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, NamedTuple, TypeVar

import psycopg
from sqlalchemy.orm import Session, sessionmaker

from geogrid.locate.cells import CellLookup
from geogrid.locate.chain import PointLocation, location_at_positions, to_wgs84_point
from geogrid.locate.index import GridIndex, IndexCache
from geogrid.locate.probe import RevisionProbe, Revisions, read_revisions
from geogrid.locate.signboard import (
    SignboardData,
    fetch_district_signboard_data,
    on_duty_changes_at,
)
from geogrid.spatial.crs import CoordinateSystem
from geogrid.storage.database import session_scope
from geogrid.storage.faults import classify_fault, fault_reason

__all__ = ["LiveAnswer", "LiveLocator", "Staleness"]

T = TypeVar("T")

#: Rendered answers kept per district before the cache starts over (a district has a few
#: thousand distinct answers; this only bounds memory against pathological inputs).
MAX_ANSWERS = 100_000

_AnswerKey = tuple[int, tuple[int, ...], tuple[int, ...]]
#: The deepest general grid (None: no general grid) and the dedicated grids covering a point.
_GridKey = tuple[int | None, tuple[int, ...]]


def _cell(cells: CellLookup, lon: float, lat: float) -> int:
    """The raster cell of a point (what :meth:`CellLookup.cell_of` computes, for one point in
    plain floats), or ``-1`` outside the raster."""
    ix = math.floor((lon - cells.x0) / cells.dx)
    iy = math.floor((lat - cells.y0) / cells.dy)
    if 0 <= ix < cells.nx and 0 <= iy < cells.ny:
        return iy * cells.nx + ix
    return -1


def _whole(cells: CellLookup, cell: int) -> tuple[float, float] | None:
    """The centre of ``cell`` if no boundary crosses it (every geometry near it covers all of
    it: a "full" entry), else None."""
    if not cells.entry_full[cells.start[cell] : cells.start[cell + 1]].all():
        return None
    return (
        cells.x0 + (cell % cells.nx + 0.5) * cells.dx,
        cells.y0 + (cell // cells.nx + 0.5) * cells.dy,
    )


@dataclass(eq=False)
class _WholeCells:
    """The answer key of a point, memoised per raster cell where no boundary crosses the cell.

    Why: the GEOS work of a lookup (a shapely Point, two STRtree queries, two prepared
    predicates: ~70 us) was most of a live lookup's CPU. Inside a cell that no grid boundary
    reaches, every point is covered by the same grids (the exactness argument of
    :mod:`geogrid.locate.cells`: such a cell is wholly inside or wholly outside each grid,
    with a margin far above float rounding), so :meth:`GridIndex.covering
    <geogrid.locate.index.GridIndex.covering>` and :meth:`~geogrid.locate.index.GridIndex.deepest`
    give the same answer anywhere in it; they are asked once, at the centre, and the answer
    kept. Admin areas likewise, on their own raster. Points in crossed cells ask the index
    directly. Nothing here restates the rule: every key comes from the index's methods.
    Depends only on the boundaries, so it lives as long as the index.
    """

    index: GridIndex
    grids: CellLookup
    admin: CellLookup
    grid_keys: dict[int, _GridKey | None] = field(default_factory=dict)
    admin_keys: dict[int, tuple[int, ...] | None] = field(default_factory=dict)

    @classmethod
    def build(cls, index: GridIndex) -> _WholeCells:
        """Rasters of the index's grids (shared with bulk lookups) and admin areas (~0.5 s:
        run it in a worker thread)."""
        return cls(index, index.cells(), CellLookup.build(index.admin_geoms))

    def grid_key(self, lon: float, lat: float) -> _GridKey:
        """Deepest general grid and dedicated grids covering the point."""
        cell = _cell(self.grids, lon, lat)
        if cell >= 0:
            try:
                key = self.grid_keys[cell]
            except KeyError:
                centre = _whole(self.grids, cell)
                key = self.grid_keys[cell] = None if centre is None else self._grid_key(*centre)
            if key is not None:
                return key
        return self._grid_key(lon, lat)

    def admin_key(self, lon: float, lat: float) -> tuple[int, ...]:
        """Positions of the admin areas covering the point (the index's choice per level)."""
        cell = _cell(self.admin, lon, lat)
        if cell >= 0:
            try:
                key = self.admin_keys[cell]
            except KeyError:
                centre = _whole(self.admin, cell)
                key = self.admin_keys[cell] = (
                    None if centre is None else tuple(self.index.admin_areas(*centre))
                )
            if key is not None:
                return key
        return tuple(self.index.admin_areas(lon, lat))

    def _grid_key(self, lon: float, lat: float) -> _GridKey:
        index = self.index
        covering = index.covering(lon, lat)
        dedicated = tuple(int(p) for p in covering if index.dedicated[p])
        return index.deepest(covering), dedicated


@dataclass(frozen=True)
class Staleness:
    """An answer given from memory while the database could not be asked whether it is
    current: the boundaries are those of ``boundary_revision`` (the district's revision
    counter, ``"0"`` if never changed), last confirmed current at ``checked_at``."""

    boundary_revision: str
    checked_at: datetime
    reason: str

    @property
    def message(self) -> str:
        """``boundaries as of revision R at T`` (T in ISO 8601, UTC): the header's value.

        >>> Staleness("12", datetime(2026, 11, 2, 8, 0, tzinfo=UTC), "connection refused").message
        'boundaries as of revision 12 at 2026-11-02T08:00:00+00:00'
        """
        return (
            f"boundaries as of revision {self.boundary_revision} at {self.checked_at.isoformat()}"
        )

    def as_dict(self) -> dict[str, str]:
        """The ``stale`` member of a stale answer."""
        return {
            "message": self.message,
            "boundary_revision": self.boundary_revision,
            "checked_at": self.checked_at.isoformat(),
            "reason": f"database unreachable ({self.reason})",
        }


class LiveAnswer(NamedTuple, Generic[T]):
    """A live lookup: the WGS 84 point, the rendered answer, and whether it is stale."""

    lon: float
    lat: float
    value: T
    stale: Staleness | None = None


@dataclass(frozen=True)
class _Answer(Generic[T]):
    """A rendered answer, right for ``built <= now < expires`` (no end: until data moves)."""

    value: T
    built: datetime
    expires: datetime | None

    def fresh(self, now: datetime) -> bool:
        return self.built <= now and (self.expires is None or now < self.expires)


@dataclass(eq=False)
class _District(Generic[T]):
    revisions: Revisions
    index: GridIndex
    cells: _WholeCells
    data: SignboardData
    answers: dict[_AnswerKey, _Answer[T]]
    #: the last moment the probe confirmed ``revisions`` current (the mark of a stale answer)
    checked_at: datetime

    def staleness(self, reason: str) -> Staleness:
        return Staleness(self.revisions.boundary.split("@")[0], self.checked_at, reason)


class LiveLocator(Generic[T]):
    """Answers current point lookups from memory, checked by one probe per call.

    :meth:`locate` runs in an event loop (one at a time: the app's); reloads run in worker
    threads under a lock. ``render`` turns an answer into what callers want back (e.g. JSON
    bytes); it is called once per distinct answer and its result reused, so it must not depend
    on the point: the :class:`PointLocation` it gets has NaN ``lon``/``lat``. :meth:`locate`
    returns the WGS 84 point next to the rendered answer.
    """

    def __init__(
        self,
        *,
        probe: RevisionProbe,
        session_factory: sessionmaker[Session],
        index_cache: IndexCache,
        render: Callable[[PointLocation], T],
        max_answers: int = MAX_ANSWERS,
    ) -> None:
        self._probe = probe
        self._session_factory = session_factory
        self._index_cache = index_cache
        self._render = render
        self._max_answers = max_answers
        self._districts: dict[str, _District[T]] = {}
        self._lock = threading.Lock()
        self.reloads = 0

    @property
    def probe(self) -> RevisionProbe:
        """The revision probe (the app closes it at shutdown)."""
        return self._probe

    async def locate(
        self,
        lon: float,
        lat: float,
        *,
        district_adcode: str,
        crs: str | CoordinateSystem = "wgs84",
        now: datetime | None = None,
    ) -> LiveAnswer[T] | None:
        """The rendered answer for a point in ``crs`` (converted to WGS 84), with the point,
        or None when no general grid covers it (the caller then asks ``locate_point`` for the
        404 with the nearest grid). While the database cannot be reached, a district in
        memory answers from it with :attr:`LiveAnswer.stale` set.

        Raises
        ------
        InvalidInputError
            Coordinates out of range or unknown ``crs`` (as ``locate_point``).
        psycopg.OperationalError
            The probe cannot reach the database and the district was never loaded (callers
            may answer through a session, which answers 503 if the database is away).
        """
        wlon, wlat = to_wgs84_point(lon, lat, crs)
        now = now or datetime.now(UTC)
        district = self._districts.get(district_adcode)
        stale: Staleness | None = None
        try:
            revisions = await self._probe.read(district_adcode)
        except psycopg.OperationalError as exc:
            if district is None:
                raise
            stale = district.staleness(fault_reason(str(exc)))
        else:
            if district is None or district.revisions != revisions:
                try:
                    district = await asyncio.to_thread(
                        self._reload, district_adcode, revisions, now
                    )
                except Exception as exc:
                    # reachable for the probe, gone for the reload: the state held serves
                    # if it is an outage, anything else is a real error
                    fault = classify_fault(exc)
                    if district is None or fault is None:
                        raise
                    stale = district.staleness(fault[1])
                else:
                    district.checked_at = now
            else:
                district.checked_at = now
        assert district is not None
        cells = district.cells
        deepest, dedicated = cells.grid_key(wlon, wlat)
        if deepest is None:
            return None
        key: _AnswerKey = (deepest, dedicated, cells.admin_key(wlon, wlat))
        answer = district.answers.get(key)
        if answer is None or not answer.fresh(now):
            answer = self._answer(district, key, now)
        return LiveAnswer(wlon, wlat, answer.value, stale)

    def _reload(self, district_adcode: str, seen: Revisions, now: datetime) -> _District[T]:
        """The district's state as committed now: at least as new as ``seen`` (the probe's
        read, which began after the request arrived)."""
        with self._lock:
            district = self._districts.get(district_adcode)
            if district is not None and district.revisions == seen:
                return district  # another request rebuilt it while this one waited
            with session_scope(self._session_factory) as session:
                # Read again in the session: the state loaded next is at least as new as these
                # revisions, and they are at least as new as ``seen``. If another thread
                # already holds them, its state serves (no second rebuild).
                revisions = read_revisions(session, district_adcode)
                if district is not None and district.revisions == revisions:
                    return district
                index = self._index_cache.refresh(
                    session, district_adcode, revision=revisions.boundary
                )
                data = fetch_district_signboard_data(session, district_adcode=district_adcode)
            if district is not None and district.index is index:
                cells = district.cells  # staff moved, boundaries did not
            else:
                cells = _WholeCells.build(index)
            district = _District(
                revisions=revisions,
                index=index,
                cells=cells,
                data=dataclasses.replace(data, revision=index.revision),
                answers={},
                checked_at=now,
            )
            self._districts[district_adcode] = district
            self.reloads += 1
            return district

    def _answer(self, district: _District[T], key: _AnswerKey, now: datetime) -> _Answer[T]:
        deepest, dedicated, admin = key
        index = district.index
        location = location_at_positions(
            index,
            deepest=deepest,
            dedicated=dedicated,
            admin=admin,
            data=district.data,
            lon=math.nan,
            lat=math.nan,
            now=now,
        )
        grid_ids = [int(index.grid_id[p]) for p in (deepest, *dedicated)]
        answer = _Answer(
            self._render(location), now, on_duty_changes_at(district.data, grid_ids, now)
        )
        if len(district.answers) >= self._max_answers:
            district.answers.clear()
        district.answers[key] = answer
        return answer

    def clear(self) -> None:
        """Forget every cached district (the probe and index cache are left alone)."""
        with self._lock:
            self._districts.clear()
