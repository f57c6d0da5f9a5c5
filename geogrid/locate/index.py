"""The in-memory index of a district's current grids, and the cache that keeps it fresh.

Why in memory: a point lookup then costs a few microseconds of GEOS work instead of a database
round trip, and a million points take well under a second (:mod:`geogrid.locate.cells`).

Exactness: every answer is the one PostGIS gives with ``ST_Covers(grid, point)`` — boundary
points belong to every grid whose boundary they lie on. The STRtree only proposes candidates
(bounding boxes); the decision is ``shapely.intersects_xy`` on the *prepared* grid polygon, and
for a point and a polygon "intersects" and "covers" are the same predicate (interior or
boundary). (With ``STRtree.query(points, predicate=...)`` the predicate reads "query geometry
<predicate> tree geometry", so the equivalent there is ``covered_by``; it prepares the points,
not the polygons, which is why we do not use it.)

Deterministic answer on shared edges: the rule of :mod:`geogrid.rules.covering` (among the
general grids covering a point, the *deepest level* wins, then the *smallest code*); the index
keeps it as one precomputed rank per grid, derived from that rule, so a lookup is an argmax and
a million lookups one ``maximum.reduceat``. The chain above the winner follows ``parent_id``.
Admin areas (district, street/town, community/village) are chosen the same way,
smallest code per level.

Freshness: ``boundary_revisions`` (migration 0002) is bumped by a trigger on every change to
``grids``/``grid_versions`` (and, since migration 0007, ``admin_areas``), whoever makes it.
:class:`IndexCache` remembers the revision an index was built at; callers compare it with the
database (one single-row SELECT, for free inside the signboard query, see
:mod:`geogrid.locate.chain`, or through the revision probe of :mod:`geogrid.locate.live`) and
rebuild when it moved.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from numpy.typing import NDArray
from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid.rules.covering import precedence_ranks
from geogrid.rules.in_force import in_force_sql

if TYPE_CHECKING:
    from geogrid.locate.cells import CellLookup

__all__ = ["GridIndex", "IndexCache", "load_grid_index", "read_revision", "revision_token"]

IntArray = NDArray[np.int64]

_REVISION_SQL = text(
    "SELECT revision, changed_at FROM boundary_revisions WHERE district_adcode = :d"
)

_GRIDS_SQL = text(
    f"""
    SELECT g.id, g.code, g.level, g.kind, g.dedicated_type, g.parent_id,
           gv.version, gv.name, gv.area_m2, ST_AsBinary(gv.geom) AS wkb
    FROM grids g
    JOIN grid_versions gv ON gv.grid_id = g.id
    WHERE g.district_adcode = :d AND {in_force_sql(None, version="gv", grid="g")}
    ORDER BY g.code
    """
)

_ADMIN_SQL = text(
    """
    SELECT id, code, name, level, ST_AsBinary(geom) AS wkb
    FROM admin_areas WHERE district_adcode = :d ORDER BY code
    """
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Above this many points, bulk lookups go through the cell raster (built once per revision).
CELLS_THRESHOLD = 20_000


def revision_token(revision: object, changed_at: datetime | None) -> str:
    """The revision as a token: the counter plus the time of the change, in microseconds since
    1970 (the revision probe builds the same string in SQL, whatever the session's TimeZone).

    Why the time: a transaction that edits a grid and rolls back shows its session revision
    N+1 that never commits; another transaction may later commit a *different* N+1. Their
    ``changed_at`` (the transaction start time) differ, so an index built inside the rolled-back
    transaction is never mistaken for the committed one.

    >>> revision_token(7, datetime(2026, 1, 1, tzinfo=UTC))
    '7@1767225600000000'
    """
    if revision is None or changed_at is None:
        return "0"
    return f"{revision}@{(changed_at - _EPOCH) // timedelta(microseconds=1)}"


def read_revision(session: Session, district_adcode: str) -> str:
    """The boundary revision token of a district (``"0"`` if no boundary ever changed)."""
    row = session.execute(_REVISION_SQL, {"d": district_adcode}).one_or_none()
    return "0" if row is None else revision_token(row.revision, row.changed_at)


@dataclass(eq=False)
class GridIndex:
    """The current grids and admin areas of one district, as parallel numpy arrays.

    Positions (``pos``) index every array; grids are ordered by code. ``rank`` is
    :func:`~geogrid.rules.covering.precedence_ranks` of the grids (largest rank wins, ``-1`` for
    dedicated grids) and ``pos_of_rank`` its inverse over general grids.
    """

    district_adcode: str
    revision: str
    grid_id: IntArray
    code: NDArray[np.object_]
    level: NDArray[np.int8]
    dedicated: NDArray[np.bool_]
    dedicated_type: NDArray[np.object_]
    parent: IntArray
    version: IntArray
    name: NDArray[np.object_]
    area_m2: NDArray[np.float64]
    geoms: NDArray[np.object_]
    admin_id: IntArray
    admin_code: NDArray[np.object_]
    admin_name: NDArray[np.object_]
    admin_level: NDArray[np.object_]
    admin_geoms: NDArray[np.object_]
    built_seconds: float = 0.0
    tree: shapely.STRtree = field(init=False)
    admin_tree: shapely.STRtree = field(init=False)
    _pos_of_id: dict[int, int] = field(init=False)
    rank: IntArray = field(init=False)
    pos_of_rank: IntArray = field(init=False)
    _cells: CellLookup | None = field(init=False, default=None)
    _cells_lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        shapely.prepare(self.geoms)
        shapely.prepare(self.admin_geoms)
        self.tree = shapely.STRtree(self.geoms)
        self.admin_tree = shapely.STRtree(self.admin_geoms)
        _warm_up(self.geoms, self.tree)
        _warm_up(self.admin_geoms, self.admin_tree)
        self._pos_of_id = {int(g): i for i, g in enumerate(self.grid_id)}
        kinds = ["dedicated" if d else "general" for d in self.dedicated]
        self.rank = np.array(
            precedence_ranks([int(v) for v in self.level], list(self.code), kinds),
            dtype=np.int64,
        )
        self.pos_of_rank = np.full(int(np.count_nonzero(~self.dedicated)), -1, dtype=np.int64)
        general = np.flatnonzero(self.rank >= 0)
        self.pos_of_rank[self.rank[general]] = general

    # -- sizes and lookups by id -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.grid_id)

    def position(self, grid_id: int) -> int | None:
        """Position of a grid id, or None if it is not a current grid of this district."""
        return self._pos_of_id.get(int(grid_id))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) of all grids and admin areas."""
        both = np.concatenate([self.geoms, self.admin_geoms])
        x0, y0, x1, y1 = shapely.total_bounds(both)
        return float(x0), float(y0), float(x1), float(y1)

    # -- one point ---------------------------------------------------------------------------

    def covering(self, lon: float, lat: float, *, point: shapely.Point | None = None) -> IntArray:
        """Positions of every grid (general and dedicated) that covers the point, by code.
        ``point`` is ``shapely.Point(lon, lat)`` when the caller already has it."""
        candidates = self.tree.query(shapely.Point(lon, lat) if point is None else point)
        if len(candidates) == 0:
            return candidates.astype(np.int64)
        hit = shapely.intersects_xy(self.geoms[candidates], lon, lat)
        return np.sort(candidates[hit]).astype(np.int64)

    def deepest(self, positions: IntArray) -> int | None:
        """The winning general grid among ``positions`` (deepest level, then smallest code)."""
        if len(positions) == 0:
            return None
        ranks = self.rank[positions]
        best = int(np.argmax(ranks))
        return None if ranks[best] < 0 else int(positions[best])

    def chain(self, pos: int) -> list[int]:
        """``pos`` and its ancestors through ``parent_id``, level 1 first."""
        out = [pos]
        while (parent := int(self.parent[out[-1]])) >= 0:
            out.append(parent)
        return out[::-1]

    def admin_areas(
        self, lon: float, lat: float, *, point: shapely.Point | None = None
    ) -> list[int]:
        """Positions of the admin areas covering the point: one per level, smallest code."""
        candidates = self.admin_tree.query(shapely.Point(lon, lat) if point is None else point)
        hit = np.sort(candidates[shapely.intersects_xy(self.admin_geoms[candidates], lon, lat)])
        chosen: dict[str, int] = {}
        for pos in hit:
            chosen.setdefault(str(self.admin_level[pos]), int(pos))
        order = ("district", "street", "town", "community", "village")
        return [chosen[level] for level in order if level in chosen]

    # -- many points -------------------------------------------------------------------------

    def covering_pairs(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64], *, use_cells: bool | None = None
    ) -> tuple[IntArray, IntArray]:
        """Every (point, grid) with ``ST_Covers(grid, point)``, as two arrays sorted by point.

        ``use_cells`` forces (True) or forbids (False) the cell raster; by default it is used
        from :data:`CELLS_THRESHOLD` points on, where building it once pays off.
        """
        lon = np.ascontiguousarray(lon, dtype=np.float64)
        lat = np.ascontiguousarray(lat, dtype=np.float64)
        if use_cells is None:
            use_cells = len(lon) >= CELLS_THRESHOLD
        if use_cells:
            return self.cells().pairs(lon, lat)
        points = shapely.points(lon, lat)
        pt, pos = self.tree.query(points)
        hit = shapely.intersects_xy(self.geoms[pos], lon[pt], lat[pt])
        pt, pos = pt[hit], pos[hit]
        order = np.lexsort((pos, pt))
        return pt[order].astype(np.int64), pos[order].astype(np.int64)

    def deepest_many(self, n_points: int, pt: IntArray, pos: IntArray) -> IntArray:
        """The winning general grid per point (``-1`` where none) from sorted covering pairs."""
        out = np.full(n_points, -1, dtype=np.int64)
        if len(pt) == 0:
            return out
        ranks = self.rank[pos]
        starts = np.flatnonzero(np.r_[True, pt[1:] != pt[:-1]])
        best_rank = np.maximum.reduceat(ranks, starts)
        points = pt[starts]
        found = best_rank >= 0
        out[points[found]] = self.pos_of_rank[best_rank[found]]
        return out

    def cells(self) -> CellLookup:
        """The cell raster of this index, built on first use (about 0.1 s)."""
        with self._cells_lock:
            if self._cells is None:
                from geogrid.locate.cells import CellLookup

                self._cells = CellLookup.build(self.geoms)
            return self._cells


def _warm_up(geoms: NDArray[np.object_], tree: shapely.STRtree) -> None:
    """Build, in this thread, every lazy structure the lookups will read.

    GEOS builds a prepared polygon's point locator (and the interval tree under it) on the
    first point test, and a tree may finish building on its first query: done by two request
    threads at once, that first use races on plain C++ members, a known way to corrupt the
    heap. One point test per polygon (and one query) here, before the index is handed to any
    other thread, leaves every later use read-only, which GEOS allows from many threads.
    """
    if len(geoms) == 0:
        return
    probe = shapely.get_point(shapely.get_exterior_ring(shapely.get_geometry(geoms, 0)), 0)
    probe = np.where(shapely.is_missing(probe), shapely.points(0.0, 0.0), probe)
    shapely.intersects_xy(geoms, shapely.get_x(probe), shapely.get_y(probe))
    tree.query(probe[0])


def load_grid_index(session: Session, district_adcode: str) -> GridIndex:
    """Read the current grids and admin areas of a district into a :class:`GridIndex`.

    The revision is read *before* the grids: if a change commits in between, the index holds
    newer data than its revision says and the next check merely rebuilds once more.
    """
    started = time.perf_counter()
    revision = read_revision(session, district_adcode)
    rows = session.execute(_GRIDS_SQL, {"d": district_adcode}).all()
    admin = session.execute(_ADMIN_SQL, {"d": district_adcode}).all()
    pos_of_id = {r.id: i for i, r in enumerate(rows)}

    def col(values: list[Any], dtype: Any) -> Any:
        return np.array(values, dtype=dtype)

    index = GridIndex(
        district_adcode=district_adcode,
        revision=revision,
        grid_id=col([r.id for r in rows], np.int64),
        code=col([r.code for r in rows], object),
        level=col([r.level for r in rows], np.int8),
        dedicated=col([r.kind == "dedicated" for r in rows], bool),
        dedicated_type=col([r.dedicated_type for r in rows], object),
        parent=col([pos_of_id.get(r.parent_id, -1) for r in rows], np.int64),
        version=col([r.version for r in rows], np.int64),
        name=col([r.name for r in rows], object),
        area_m2=col([r.area_m2 for r in rows], np.float64),
        geoms=shapely.from_wkb([bytes(r.wkb) for r in rows]).astype(object),
        admin_id=col([r.id for r in admin], np.int64),
        admin_code=col([r.code for r in admin], object),
        admin_name=col([r.name for r in admin], object),
        admin_level=col([r.level for r in admin], object),
        admin_geoms=shapely.from_wkb([bytes(r.wkb) for r in admin]).astype(object),
    )
    index.built_seconds = time.perf_counter() - started
    return index


class IndexCache:
    """One :class:`GridIndex` per district, rebuilt when the district's revision moves.

    Thread-safe: one lock per cache; a rebuild holds it, so concurrent requests that find the
    index stale wait for one rebuild instead of each doing their own.
    """

    def __init__(self) -> None:
        self._indexes: dict[str, GridIndex] = {}
        self._lock = threading.Lock()
        self.rebuilds = 0

    def peek(self, district_adcode: str) -> GridIndex | None:
        """The cached index, fresh or not, without touching the database."""
        return self._indexes.get(district_adcode)

    def refresh(
        self, session: Session, district_adcode: str, *, revision: str | None = None
    ) -> GridIndex:
        """The index of a district at ``revision`` (read from the database if not given),
        rebuilt if the cached one is older or missing."""
        if revision is None:
            revision = read_revision(session, district_adcode)
        with self._lock:
            index = self._indexes.get(district_adcode)
            if index is None or index.revision != revision:
                index = load_grid_index(session, district_adcode)
                self._indexes[district_adcode] = index
                self.rebuilds += 1
            return index

    def get(self, session: Session, district_adcode: str) -> GridIndex:
        """A fresh index: costs one single-row SELECT, plus a rebuild when boundaries moved."""
        return self.refresh(session, district_adcode)

    def clear(self) -> None:
        with self._lock:
            self._indexes.clear()
