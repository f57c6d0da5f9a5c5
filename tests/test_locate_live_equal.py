"""★ The live GET /locate cache equals the one definition, over the whole demo.

The live path (the lifespan's :class:`~geogrid.locate.live.LiveLocator`: revision probe,
answer keys memoised per raster cell, rendered answers kept until the data or an ``away_until``
moves) must answer exactly what the declared endpoint's definition answers:
:func:`~geogrid.locate.chain.locate_point` on the ``ST_Covers`` SQL path, rendered as
:func:`api.routers.locate.get_locate` renders it. Compared byte for byte:

- points: 2 000 random points over the district (fixed seed, some in no grid), grid vertices
  (on shared edges), raster cell corners (where the cell arithmetic rounds) and points inside
  dedicated grids;
- staff states, committed with SQL (the live path reads committed data, as in production) and
  restored afterwards: as loaded, A away, A away until a past time, B away, both away, A
  inactive;
- times: an injected ``now``, and just before, at and just after an ``away_until`` passes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from api.main import create_app
from api.routers.locate import _json_bytes, _locate_body, live_locate
from geogrid.errors import NotFoundError
from geogrid.locate.chain import deepest_general_grid, locate_point
from geogrid.locate.index import GridIndex, IndexCache, load_grid_index
from geogrid.settings import Settings

DISTRICT = "610503"
#: The injected clock: far from the demo's load time, so nothing depends on today.
NOW = datetime(2031, 3, 1, 2, 0, tzinfo=UTC)
#: When the A posts marked away come back.
BACK = NOW + timedelta(days=2)

Point = tuple[float, float]


@dataclass(frozen=True)
class Sample:
    random: list[Point]
    edges: list[Point]
    corners: list[Point]
    dedicated: list[Point]
    whole_cells: int
    crossed_cells: int

    @property
    def points(self) -> list[Point]:
        return self.random + self.edges + self.corners + self.dedicated

    @property
    def few(self) -> list[Point]:
        """The subset the staff states compare: who is on duty depends on the grids only."""
        return self.random[::20] + self.edges[::2] + self.corners + self.dedicated[:40]


@pytest.fixture(scope="module")
def index(demo: Engine) -> GridIndex:
    with Session(demo) as session:
        return load_grid_index(session, DISTRICT)


@pytest.fixture(scope="module")
def sample(index: GridIndex) -> Sample:
    rng = np.random.default_rng(20310301)
    x0, y0, x1, y1 = index.bounds
    random = list(
        zip(rng.uniform(x0, x1, 2000).tolist(), rng.uniform(y0, y1, 2000).tolist(), strict=True)
    )
    # Shared edges: every vertex of some grids lies on its neighbours' boundaries too.
    vertices = shapely.get_coordinates(index.geoms[rng.choice(len(index), 12, replace=False)])
    edges = [(float(x), float(y)) for x, y in vertices[:: max(1, len(vertices) // 150)]]
    # Corners of raster cells near grids: the cell of such a point is decided by rounding.
    cells = index.cells()
    corners = []
    for x, y in shapely.get_coordinates(
        shapely.point_on_surface(index.geoms[rng.choice(len(index), 40, replace=False)])
    ):
        ix = math.floor((x - cells.x0) / cells.dx)
        iy = math.floor((y - cells.y0) / cells.dy)
        corners.append((cells.x0 + ix * cells.dx, cells.y0 + iy * cells.dy))
    inside = shapely.point_on_surface(index.geoms[np.flatnonzero(index.dedicated)])
    dedicated = [(float(x), float(y)) for x, y in shapely.get_coordinates(inside)]
    # Both branches of the live path are exercised: cells no boundary crosses (memoised key)
    # and crossed cells (asked of the index point by point).
    lon, lat = np.array(random + edges + corners + dedicated).T
    cell = cells.cell_of(lon, lat)
    whole = np.array(
        [c >= 0 and bool(cells.entry_full[cells.start[c] : cells.start[c + 1]].all()) for c in cell]
    )
    return Sample(random, edges, corners, dedicated, int(whole.sum()), int((~whole).sum()))


@pytest.fixture(scope="module")
def app_client(settings: Settings, demo: Engine) -> Iterator[TestClient]:
    """The real app (its lifespan builds the live locator), committing for real."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _live(client: TestClient, points: list[Point], now: datetime) -> list[bytes | None]:
    """The live answers, in the app's event loop, for the same query strings HTTP brings."""
    state = client.app.state  # type: ignore[attr-defined]

    async def run() -> list[bytes | None]:
        out: list[bytes | None] = []
        for lon, lat in points:
            found = await live_locate(state, f"lon={lon!r}&lat={lat!r}".encode(), now=now)
            if found is not None:
                assert found[1] is None, "the database is up: no answer may be marked stale"
            out.append(None if found is None else found[0])
        return out

    assert client.portal is not None
    return client.portal.call(run)


def _reference(
    engine: Engine, points: list[Point], now: datetime, *, cache: IndexCache | None = None
) -> list[bytes | None]:
    """The definition: :func:`locate_point` rendered as the endpoint does — on the SQL path
    (``ST_Covers``, no cache) unless ``cache`` is given (the endpoint's own index path) — and
    None where it answers 404 (the live path then hands the request to the endpoint)."""
    out: list[bytes | None] = []
    with Session(engine) as session:
        index = None if cache is None else cache.get(session, DISTRICT)
        for lon, lat in points:
            # The 404's nearest-grid search is slow and not what is compared: no general
            # grid (the rule locate_point applies first, on the same path) means a 404.
            if index is not None:
                nowhere = index.deepest(index.covering(lon, lat)) is None
            else:
                nowhere = deepest_general_grid(session, lon, lat, district_adcode=DISTRICT) is None
            if nowhere:
                out.append(None)
                continue
            try:
                location = locate_point(
                    session, lon, lat, district_adcode=DISTRICT, now=now, cache=cache
                )
            except NotFoundError:
                out.append(None)
                continue
            out.append(_json_bytes(_locate_body(location, None)))
    return out


def _assert_equal(
    client: TestClient,
    engine: Engine,
    points: list[Point],
    now: datetime,
    label: str,
    *,
    cache: IndexCache | None = None,
) -> int:
    """Compare every point; return how many were answered (not 404)."""
    live = _live(client, points, now)
    reference = _reference(engine, points, now, cache=cache)
    differ = [p for p, a, b in zip(points, live, reference, strict=True) if a != b]
    assert not differ, f"{label}: {len(differ)} of {len(points)} points differ, e.g. {differ[:3]}"
    return sum(r is not None for r in reference)


def test_live_equals_the_definition_at_every_sampled_point(
    app_client: TestClient, demo: Engine, sample: Sample
) -> None:
    """Every sampled point, as the demo was loaded, at the injected time: the grids, admin
    areas and signboards. Edges, cell corners and dedicated grids against the SQL path
    (``ST_Covers``: where the edge rule decides); the 2 000 random points against the
    endpoint's own index path (itself compared with the SQL path in test_locate_live and
    test_locate_index), which costs a quarter of the SQL path's round trips."""
    special = sample.edges + sample.corners + sample.dedicated
    answered = _assert_equal(app_client, demo, special, NOW, "edges, corners, dedicated")
    answered += _assert_equal(
        app_client, demo, sample.random, NOW, "random points", cache=IndexCache()
    )
    assert answered > 1000
    assert sample.whole_cells > 500 and sample.crossed_cells > 100


# -- staff states ------------------------------------------------------------------------------

_A_STAFF = """
    SELECT DISTINCT a.staff_id FROM grid_assignments a JOIN grids g ON g.id = a.grid_id
    WHERE g.district_adcode = :d AND a.post = 'A' AND a.valid_to IS NULL
"""
_B_STAFF = """
    SELECT DISTINCT a.staff_id FROM grid_assignments a JOIN grids g ON g.id = a.grid_id
    WHERE g.district_adcode = :d AND a.post = 'B' AND a.valid_to IS NULL
      AND a.staff_id NOT IN ({a})
"""
_AWAY = "UPDATE staff SET availability = 'away', away_until = :until WHERE id IN ({ids})"
_INACTIVE = "UPDATE staff SET active = false WHERE id IN ({ids})"

#: Each state: SQL run in one committed transaction, and the moments compared.
STATES: dict[str, tuple[list[tuple[str, str, datetime | None]], list[datetime]]] = {
    "A away": (
        [(_AWAY, _A_STAFF, BACK)],
        [NOW, BACK - timedelta(microseconds=1), BACK, BACK + timedelta(seconds=1)],
    ),
    "A away until a past time": ([(_AWAY, _A_STAFF, NOW - timedelta(hours=1))], [NOW]),
    "B away": ([(_AWAY, _B_STAFF, None)], [NOW]),
    "both away": (
        [(_AWAY, _A_STAFF, BACK), (_AWAY, _B_STAFF, None)],
        [NOW, BACK + timedelta(seconds=1)],
    ),
    "A inactive": ([(_INACTIVE, _A_STAFF, None)], [NOW]),
}


@pytest.fixture
def restore_staff(demo: Engine) -> Iterator[None]:
    """Put every staff row of the district back as it was (the states commit for real)."""
    with demo.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, availability, away_until, active FROM staff WHERE district_adcode = :d"
            ),
            {"d": DISTRICT},
        ).all()
    try:
        yield
    finally:
        with demo.begin() as conn:
            conn.execute(
                text(
                    """
                    UPDATE staff s SET availability = o.availability,
                           away_until = o.away_until, active = o.active
                    FROM unnest(CAST(:ids AS int[]), CAST(:availability AS text[]),
                                CAST(:away_until AS timestamptz[]), CAST(:active AS bool[]))
                         AS o(id, availability, away_until, active)
                    WHERE s.id = o.id AND (s.availability, s.away_until, s.active)
                          IS DISTINCT FROM (o.availability, o.away_until, o.active)
                    """
                ),
                {
                    "ids": [r.id for r in rows],
                    "availability": [r.availability for r in rows],
                    "away_until": [r.away_until for r in rows],
                    "active": [r.active for r in rows],
                },
            )


@pytest.mark.usefixtures("restore_staff")
@pytest.mark.parametrize("state", list(STATES))
def test_live_equals_the_definition_in_every_staff_state(
    app_client: TestClient, demo: Engine, sample: Sample, state: str
) -> None:
    """A fixed subset of the points (:attr:`Sample.few`) in each staff state, at each moment
    around its ``away_until``. The grids of every point were compared with the SQL path
    above; here the reference is the endpoint's own path (the index, and the signboard query
    for the point's grids), which reads the staff rows anew for every point."""
    statements, moments = STATES[state]
    points = sample.few
    cache = IndexCache()
    with demo.begin() as conn:
        a_staff = _A_STAFF
        for sql, staff, until in statements:
            ids = staff.format(a=a_staff)
            changed = conn.execute(text(sql.format(ids=ids)), {"d": DISTRICT, "until": until})
            assert changed.rowcount > 10
    for moment in moments:
        label = f"{state} at {moment.isoformat()}"
        _assert_equal(app_client, demo, points, moment, label, cache=cache)
    if state == "A away":
        # The B post covers until A is back, then A: the moments really differ.
        before, after = (_live(app_client, points, t) for t in (NOW, BACK))
        assert before != after
