"""Validation of grid boundaries: one module for the API, the importer and the CLI.

Every failure is an :class:`~geogrid.errors.InvalidInputError` (HTTP 422) whose ``detail`` says
what is wrong and where, and whose extra fields carry it for machines:

``rule``
    a stable name of the broken rule (``self_intersection``, ``outside_parent``...);
``location``
    ``[lon, lat]`` of the fault, in the coordinate system the input was given in, so the user
    finds it in their own data (``crs`` names that system);
``area_m2``, ``overlaps``...
    measurements, in metres.

Two stages, usable apart:

* :func:`parse_geometry` / :func:`check_polygonal` — the shape on its own: GeoJSON structure,
  NaN/Inf, coordinate ranges (with a hint when latitude and longitude look swapped), vertex cap,
  GEOS validity (the reason and location come from ``shapely.is_valid_reason``), spikes, zero
  area. Pure, no database.
* :func:`check_placement` — the shape among its neighbours, described by a :class:`GridContext`
  (parent, district, the grids it must not overlap; :func:`geogrid.grids.repository.
  validation_context` builds one from the database): inside the parent (or the district for
  level-1 grids) and no overlap with siblings, each within a tolerance in metres. With
  ``fix="clip"`` the shape is clipped instead of refused and the changes are returned.

Measuring in metres: stored edges are straight in lon/lat, so before buffering or measuring,
edges are densified (``shapely.segmentize``, 1e-4 degree, about 10 m) and projected to an
azimuthal equidistant projection centred on the grid. Projecting long edges without densifying
would bend them by decimetres and invent overlaps or gaps that are not there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final, Literal

import numpy as np
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from geogrid.errors import InvalidInputError
from geogrid.spatial.crs import CoordinateSystem, geometry_from_wgs84, geometry_to_wgs84
from geogrid.spatial.partition import as_multipolygon

__all__ = [
    "DENSIFY_DEGREES",
    "MAX_VERTICES",
    "MIN_AREA_M2",
    "CheckedGeometry",
    "GridContext",
    "area_m2",
    "check_attributes",
    "check_children_within",
    "check_placement",
    "check_polygonal",
    "clip_to_context",
    "geometry_problem",
    "metric_projector",
    "parse_fix",
    "parse_geometry",
    "parse_line",
    "validate_grid_geometry",
]

#: Default cap on the vertices of one grid boundary (a parameter everywhere, this is the default).
MAX_VERTICES: Final = 10_000
#: Below this area (m²) a boundary is a line drawn as a polygon, not a grid.
MIN_AREA_M2: Final = 1.0
#: Edges are split into pieces this long (degrees, about 10 m) before projecting or measuring.
DENSIFY_DEGREES: Final = 1e-4
#: GCJ-02/BD-09 input is densified to this (degrees, about 50 m) before the non-linear shift.
CRS_MAX_SEGMENT: Final = 0.0005
# Areas below this (m²) are floating-point noise of overlay operations, not faults.
_NOISE_M2: Final = 1e-4

_GEOD: Final = Geod(ellps="WGS84")
_REASON_RE: Final = re.compile(r"^(?P<what>[^\[]+)\[(?P<x>[^ \]]+) (?P<y>[^\]]+)\]")

Fix = Literal["clip"] | None


@dataclass(frozen=True, slots=True)
class GridContext:
    """What a grid's boundary is checked against (all geometries WGS84).

    ``neighbours`` are the current grids it must not overlap, without the grid itself: general
    siblings (other level-1 grids for a level-1 grid); for a dedicated grid, the dedicated grids
    of the same ``dedicated_type`` (two school grids must not overlap, a school inside a park
    may: one place can be the business of two kinds of dedicated-grid worker, not of two
    workers of one kind). Empty when not checked (the importer leaves dedicated ones empty).
    """

    level: int
    kind: str
    district_adcode: str
    district: BaseGeometry | None = None
    parent_code: str | None = None
    parent: BaseGeometry | None = None
    neighbours: tuple[tuple[str, BaseGeometry], ...] = ()
    code: str | None = None
    dedicated_type: str | None = None


@dataclass(slots=True)
class CheckedGeometry:
    """A boundary that passed: WGS84 MultiPolygon, its ellipsoidal area, and what ``fix`` did."""

    geom: MultiPolygon
    area_m2: float
    fixes: list[dict[str, Any]] = field(default_factory=list)


def geometry_problem(
    detail: str,
    rule: str,
    location: Sequence[float] | None = None,
    *,
    crs: CoordinateSystem | None = None,
    **extra: Any,
) -> InvalidInputError:
    """The 422 error every rule raises: ``rule`` and ``location`` as fields of the problem."""
    if location is not None:
        extra["location"] = [float(location[0]), float(location[1])]
        extra["crs"] = (crs or CoordinateSystem.WGS84).value
    return InvalidInputError(detail, rule=rule, **extra)


def _fmt(xy: Sequence[float]) -> str:
    return f"({xy[0]:.7g}, {xy[1]:.7g})"


# -- stage 1: the shape on its own -----------------------------------------------------------


def _rings_of(geometry: Mapping[str, Any]) -> list[list[Any]]:
    """The raw rings of a GeoJSON Polygon/MultiPolygon, refusing any other type."""
    gtype = geometry.get("type") if isinstance(geometry, Mapping) else None
    coords = geometry.get("coordinates") if isinstance(geometry, Mapping) else None
    if isinstance(coords, tuple):  # shapely's mapping() gives tuples
        coords = list(coords)
    if gtype not in ("Polygon", "MultiPolygon"):
        got = gtype if isinstance(gtype, str) else type(geometry).__name__
        extra = (
            " A GeometryCollection is not accepted: send its polygons as one MultiPolygon."
            if gtype == "GeometryCollection"
            else ""
        )
        raise geometry_problem(
            f"A grid boundary must be a GeoJSON Polygon or MultiPolygon, not {got}.{extra}",
            "not_polygonal",
            got=got,
        )
    if not isinstance(coords, list):
        raise geometry_problem(
            f"The {gtype} has no 'coordinates' array.", "malformed", got=type(coords).__name__
        )
    polygons = [coords] if gtype == "Polygon" else coords
    rings: list[list[Any]] = []
    for polygon in polygons:
        if not isinstance(polygon, list | tuple):
            raise geometry_problem("Each polygon must be a list of rings.", "malformed")
        for ring in polygon:
            if not isinstance(ring, list | tuple):
                raise geometry_problem("Each ring must be a list of positions.", "malformed")
            rings.append(list(ring))
    return rings


def _check_raw_rings(rings: list[list[Any]], crs: CoordinateSystem, max_vertices: int) -> None:
    """Structure, finiteness, ranges and the vertex cap, on the coordinates as sent (shapely
    would silently close an open ring)."""
    if not rings or all(len(r) == 0 for r in rings):
        raise geometry_problem("The boundary is empty: it has no coordinates.", "empty")
    total = sum(len(r) for r in rings)
    if total > max_vertices:
        raise geometry_problem(
            f"The boundary has {total} vertices, more than the cap of {max_vertices}. "
            "Simplify it (a grid boundary rarely needs more than a few hundred).",
            "too_many_vertices",
            vertices=total,
            max_vertices=max_vertices,
        )
    for k, ring in enumerate(rings):
        for pos in ring:
            if not (
                isinstance(pos, list | tuple)
                and len(pos) >= 2
                and all(isinstance(v, int | float) and not isinstance(v, bool) for v in pos[:2])
            ):
                raise geometry_problem(
                    f"Ring {k} holds {pos!r}, which is not a [lon, lat] position.", "malformed"
                )
        arr = np.asarray([p[:2] for p in ring], dtype=np.float64)
        bad = ~np.isfinite(arr).all(axis=1)
        if bad.any():
            i = int(np.argmax(bad))
            raise geometry_problem(
                f"Vertex {i} of ring {k} is not a finite number ({ring[i]!r}): NaN and Infinity "
                "are not coordinates.",
                "not_finite",
                ring=k,
                vertex=i,
            )
        if len(arr) == 0:
            continue
        out = (np.abs(arr[:, 0]) > 180) | (np.abs(arr[:, 1]) > 90)
        if out.any():
            i = int(np.argmax(out))
            lon, lat = arr[i]
            swapped = bool((np.abs(arr[:, 1]) <= 180).all() and (np.abs(arr[:, 0]) <= 90).all())
            hint = (
                " The values look like (lat, lon): GeoJSON wants longitude first — swap them."
                if swapped
                else ""
            )
            raise geometry_problem(
                f"Vertex {i} of ring {k} at {_fmt((lon, lat))} is outside the range of "
                f"longitude [-180, 180] / latitude [-90, 90].{hint}",
                "out_of_range",
                (lon, lat),
                crs=crs,
                swapped_axes=swapped,
            )
        if len(arr) < 4:
            raise geometry_problem(
                f"Ring {k} has {len(arr)} positions; a ring needs at least 4 (a triangle plus "
                f"the closing repeat of the first), starting at {_fmt(arr[0])}.",
                "ring_too_short",
                arr[0],
                crs=crs,
                ring=k,
            )
        if not np.array_equal(arr[0], arr[-1]):
            raise geometry_problem(
                f"Ring {k} is not closed: it starts at {_fmt(arr[0])} but ends at "
                f"{_fmt(arr[-1])}. Repeat the first position at the end.",
                "ring_not_closed",
                arr[-1],
                crs=crs,
                ring=k,
            )


def _find_spike(polygon: Polygon) -> tuple[float, float] | None:
    """The tip of a spike: a vertex where the ring turns straight back on itself."""
    for ring in (polygon.exterior, *polygon.interiors):
        xy = np.asarray(ring.coords)[:-1, :2]
        if len(xy) < 3:
            continue
        keep = np.any(xy != np.roll(xy, 1, axis=0), axis=1)
        xy = xy[keep]
        if len(xy) < 3:
            continue
        before = xy - np.roll(xy, 1, axis=0)
        after = np.roll(xy, -1, axis=0) - xy
        cross = before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0]
        dot = (before * after).sum(axis=1)
        scale = np.hypot(*before.T) * np.hypot(*after.T)
        reversal = (np.abs(cross) <= 1e-12 * np.maximum(scale, 1e-300)) & (dot < 0)
        if reversal.any():
            i = int(np.argmax(reversal))
            return float(xy[i, 0]), float(xy[i, 1])
    return None


def check_polygonal(
    geom: BaseGeometry,
    *,
    crs: CoordinateSystem | str = CoordinateSystem.WGS84,
    max_vertices: int = MAX_VERTICES,
) -> MultiPolygon:
    """Check a shapely geometry on its own and return it as a MultiPolygon.

    For callers that already hold shapely geometries (the importer reading a Shapefile); GeoJSON
    input goes through :func:`parse_geometry`, which checks the raw structure first.

    Raises
    ------
    geogrid.errors.InvalidInputError
        Naming the rule and the location (in ``crs``) of the fault.

    Examples
    --------
    >>> check_polygonal(shapely.box(109.7, 34.5, 109.71, 34.51)).geom_type
    'MultiPolygon'
    """
    system = CoordinateSystem.parse(crs)
    if not isinstance(geom, Polygon | MultiPolygon):
        raise geometry_problem(
            f"A grid boundary must be a Polygon or MultiPolygon, not {geom.geom_type}.",
            "not_polygonal",
            got=geom.geom_type,
        )
    if geom.is_empty:
        raise geometry_problem("The boundary is empty: it has no coordinates.", "empty")
    coords = shapely.get_coordinates(geom)
    if len(coords) > max_vertices:
        raise geometry_problem(
            f"The boundary has {len(coords)} vertices, more than the cap of {max_vertices}.",
            "too_many_vertices",
            vertices=len(coords),
            max_vertices=max_vertices,
        )
    bad = ~np.isfinite(coords).all(axis=1)
    if bad.any():
        raise geometry_problem(
            "The boundary has coordinates that are not finite numbers (NaN or Infinity).",
            "not_finite",
        )
    out = (np.abs(coords[:, 0]) > 180) | (np.abs(coords[:, 1]) > 90)
    if out.any():
        i = int(np.argmax(out))
        raise geometry_problem(
            f"Vertex {_fmt(coords[i])} is outside longitude [-180, 180] / latitude [-90, 90].",
            "out_of_range",
            coords[i],
            crs=system,
        )
    if area_m2(shapely.convex_hull(geom)) < MIN_AREA_M2:
        first = shapely.get_coordinates(geom)[0]
        raise geometry_problem(
            f"The boundary has zero area: its vertices lie on one line (from {_fmt(first)}).",
            "zero_area",
            first,
            crs=system,
        )
    for part in getattr(geom, "geoms", [geom]):
        spike = _find_spike(part)
        if spike is not None:
            raise geometry_problem(
                f"The boundary has a spike at {_fmt(spike)}: the ring runs out to this point "
                "and straight back along itself. Remove the vertex.",
                "spike",
                spike,
                crs=system,
            )
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        match = _REASON_RE.match(reason)
        what = (match.group("what") if match else reason).strip()
        location = (float(match.group("x")), float(match.group("y"))) if match else None
        where = f" at {_fmt(location)}" if location else ""
        raise geometry_problem(
            f"Invalid geometry: {what}{where} (GEOS: {reason}). A ring must not cross or touch "
            "itself; redraw the boundary there.",
            what.lower().replace(" ", "_").replace("-", "_"),
            location,
            crs=system,
            geos_reason=reason,
        )
    area = area_m2(geom)
    if area < MIN_AREA_M2:
        first = shapely.get_coordinates(geom)[0]
        raise geometry_problem(
            f"The boundary has (nearly) zero area: {area:.3g} m², less than {MIN_AREA_M2} m², "
            f"starting at {_fmt(first)}. Are its vertices on one line?",
            "zero_area",
            first,
            crs=system,
            area_m2=area,
        )
    return as_multipolygon(geom)


def parse_geometry(
    geometry: Mapping[str, Any] | None,
    *,
    crs: CoordinateSystem | str = CoordinateSystem.WGS84,
    max_vertices: int = MAX_VERTICES,
) -> MultiPolygon:
    """A GeoJSON Polygon/MultiPolygon in ``crs`` → a checked WGS84 MultiPolygon.

    GCJ-02 and BD-09 edges are densified to :data:`CRS_MAX_SEGMENT` before the non-linear shift,
    so a rectangle of four clicks on Amap keeps its straight sides on the ground.

    Examples
    --------
    >>> ring = [[109.7, 34.5], [109.71, 34.5], [109.71, 34.51], [109.7, 34.5]]
    >>> parse_geometry({"type": "Polygon", "coordinates": [ring]}).geom_type
    'MultiPolygon'
    """
    system = CoordinateSystem.parse(crs)
    if geometry is None:
        raise geometry_problem("A grid needs a geometry (a Polygon or MultiPolygon).", "missing")
    rings = _rings_of(geometry)
    _check_raw_rings(rings, system, max_vertices)
    try:
        geom = shape(geometry)
    except (ValueError, TypeError, shapely.errors.GEOSException) as exc:
        raise geometry_problem(f"The geometry could not be read: {exc}.", "malformed") from None
    geom = check_polygonal(geom, crs=system, max_vertices=max_vertices)
    if system in (CoordinateSystem.WGS84, CoordinateSystem.CGCS2000):
        return geom
    converted = geometry_to_wgs84(geom, system, max_segment=CRS_MAX_SEGMENT)
    if not converted.is_valid:  # the shift moved two nearly touching edges across each other
        converted = as_multipolygon(shapely.make_valid(converted))
    return as_multipolygon(converted)


# -- measuring in metres ----------------------------------------------------------------------


def area_m2(geom: BaseGeometry) -> float:
    """Area on the WGS84 ellipsoid of a lon/lat polygon with straight lon/lat edges.

    >>> round(area_m2(shapely.box(109.7, 34.5, 109.701, 34.501)))
    10188
    """
    if geom.is_empty:
        return 0.0
    return abs(_GEOD.geometry_area_perimeter(shapely.segmentize(geom, DENSIFY_DEGREES))[0])


@lru_cache(maxsize=4096)
def _aeqd(lon: float, lat: float) -> tuple[Transformer, Transformer]:
    """WGS84 lon/lat ⇄ an azimuthal equidistant projection centred at ``(lon, lat)``.

    Written as the PROJ pipelines ``Transformer.from_crs`` resolves this pair of CRSs to (the
    same datum: unit conversion and the projection, nothing else), so the results are the
    same to the bit; building them from CRSs looked each one up in PROJ's SQLite database,
    10–120 ms a centre, most of an import's validation (and minutes under libfaketime).
    """
    aeqd = f"+proj=aeqd +lat_0={lat} +lon_0={lon} +x_0=0 +y_0=0 +ellps=WGS84"
    return (
        Transformer.from_pipeline(
            f"+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad +step {aeqd}"
        ),
        Transformer.from_pipeline(
            f"+proj=pipeline +step +inv {aeqd} +step +proj=unitconvert +xy_in=rad +xy_out=deg"
        ),
    )


@dataclass(frozen=True, slots=True)
class MetricProjector:
    """Lon/lat ⇄ metres in an azimuthal equidistant projection centred near one grid."""

    forward: Transformer
    inverse: Transformer

    def to_metric(self, geom: BaseGeometry) -> BaseGeometry:
        dense = shapely.segmentize(geom, DENSIFY_DEGREES)
        return shapely.transform(dense, lambda xy: np.column_stack(self.forward.transform(*xy.T)))

    def to_lonlat(self, geom: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geom, lambda xy: np.column_stack(self.inverse.transform(*xy.T)))


def metric_projector(geom: BaseGeometry) -> MetricProjector:
    """A projection centred on ``geom`` (rounded to 0.01°, so neighbours share transformers)."""
    c = geom.centroid
    forward, inverse = _aeqd(round(c.x, 2), round(c.y, 2))
    return MetricProjector(forward, inverse)


def _near(container: BaseGeometry, geom: BaseGeometry, margin_deg: float = 0.01) -> BaseGeometry:
    """The part of a (large) container near ``geom``: cheap to densify and buffer."""
    minx, miny, maxx, maxy = geom.bounds
    return shapely.clip_by_rect(
        container, minx - margin_deg, miny - margin_deg, maxx + margin_deg, maxy + margin_deg
    )


def _where(piece: BaseGeometry, proj: MetricProjector, crs: CoordinateSystem) -> list[float]:
    """A point inside a metric fault, in the caller's input coordinate system."""
    p = proj.to_lonlat(piece.representative_point())
    p = geometry_from_wgs84(p, crs)
    return [round(p.x, 7), round(p.y, 7)]


def _swapped(geom: BaseGeometry) -> BaseGeometry:
    return shapely.transform(geom, lambda xy: xy[:, ::-1])


# -- stage 2: the shape among its neighbours --------------------------------------------------


def _container(context: GridContext) -> tuple[BaseGeometry | None, str, str]:
    """What the grid must lie in, and how to name it."""
    if context.level == 1 or context.parent is None:
        return context.district, f"district {context.district_adcode}", "outside_district"
    return context.parent, f"its parent grid {context.parent_code}", "outside_parent"


def clip_to_context(
    geom: MultiPolygon, context: GridContext, *, tolerance_m: float = 0.5
) -> CheckedGeometry:
    """``fix=clip``: cut ``geom`` to its parent/district and out of its neighbours.

    The cut is done in lon/lat, where stored edges are straight, so the result meets its
    neighbours exactly. Pieces thinner than the tolerance left over by the cut are dropped.
    """
    fixes: list[dict[str, Any]] = []
    result: BaseGeometry = geom
    containers = [_container(context)]
    if context.kind == "dedicated" and context.parent is not None and context.district is not None:
        containers.append((context.district, f"district {context.district_adcode}", "district"))
    for container, label, _ in containers:
        if container is None:
            continue
        clipped = shapely.intersection(result, container)
        removed = area_m2(shapely.difference(result, container))
        if removed > _NOISE_M2:
            fixes.append({"action": "clipped_to", "what": label, "area_m2": round(removed, 3)})
        result = clipped
    for code, other in context.neighbours:
        if not shapely.intersects(result, other):
            continue
        overlap = area_m2(shapely.intersection(result, other))
        if overlap > _NOISE_M2:
            result = shapely.difference(result, other)
            fixes.append({"action": "removed_overlap", "code": code, "area_m2": round(overlap, 3)})
    proj = metric_projector(geom)
    parts = [
        p
        for p in as_multipolygon(result).geoms
        if not proj.to_metric(p).buffer(-tolerance_m).is_empty
    ]
    if not parts:
        raise geometry_problem(
            "Nothing is left of the boundary after clipping it to where it may lie "
            f"({', '.join(f['action'] for f in fixes) or 'clip'}).",
            "empty_after_clip",
            fixes=fixes,
        )
    fixed = MultiPolygon(parts)
    return CheckedGeometry(fixed, area_m2(fixed), fixes)


def check_placement(
    geom: MultiPolygon,
    context: GridContext,
    *,
    tolerance_m: float = 0.5,
    fix: Fix = None,
    crs: CoordinateSystem | str = CoordinateSystem.WGS84,
) -> CheckedGeometry:
    """Check that ``geom`` (WGS84) lies where a grid of its level and kind may lie.

    * general grids: within the parent (level 1: within the district) and not overlapping
      ``context.neighbours``, each up to ``tolerance_m`` metres;
    * dedicated grids: within the parent community and the district; overlapping general grids
      and dedicated grids of other types is allowed, overlapping ``context.neighbours`` (the
      same type) by more than ``tolerance_m`` is not (rule ``overlaps_same_type``).

    ``crs`` only decides which system the ``location`` of a fault is reported in.
    With ``fix="clip"`` nothing is refused for placement: see :func:`clip_to_context`.
    """
    system = CoordinateSystem.parse(crs)
    if fix == "clip":
        return clip_to_context(geom, context, tolerance_m=tolerance_m)
    proj = metric_projector(geom)
    geom_m = proj.to_metric(geom)
    containers = [_container(context)]
    if context.kind == "dedicated" and context.parent is not None:
        containers.append(
            (context.district, f"district {context.district_adcode}", "outside_district")
        )
    for container, label, rule in containers:
        if container is None:
            continue
        near = _near(container, geom)
        allowed = proj.to_metric(near).buffer(tolerance_m)
        outside = shapely.difference(geom_m, allowed)
        if outside.area > _NOISE_M2:
            area = area_m2(shapely.difference(geom, near))
            where = _where(outside, proj, system)
            hint = ""
            if context.district is not None and shapely.intersects(
                _swapped(geom), context.district
            ):
                hint = (
                    " With latitude and longitude swapped it would lie in district "
                    f"{context.district_adcode}: GeoJSON wants longitude first."
                )
            raise geometry_problem(
                f"The boundary is not within {label}: {area:.1f} m² lie outside it by more than "
                f"{tolerance_m} m, e.g. around {_fmt(where)}.{hint} "
                "Redraw it, or send fix=clip to cut it to fit.",
                rule,
                where,
                crs=system,
                area_m2=round(area, 3),
                tolerance_m=tolerance_m,
                swapped_axes=bool(hint),
            )
    overlaps: list[dict[str, Any]] = []
    first_where: list[float] | None = None
    for code, other in context.neighbours:
        if not shapely.intersects(geom, other):
            continue
        deep = shapely.intersection(geom_m, proj.to_metric(other).buffer(-tolerance_m))
        if deep.area <= _NOISE_M2:
            continue
        where = _where(deep, proj, system)
        first_where = first_where or where
        overlaps.append(
            {
                "code": code,
                "area_m2": round(area_m2(shapely.intersection(geom, other)), 3),
                "location": where,
            }
        )
    if overlaps and context.kind == "dedicated":
        listed = ", ".join(
            f"{o['code']} ({o['area_m2']:.1f} m² around {_fmt(o['location'])})" for o in overlaps
        )
        kind = context.dedicated_type or "dedicated"
        raise geometry_problem(
            f"The boundary overlaps {len(overlaps)} other dedicated {kind} grid(s) by more than "
            f"{tolerance_m} m: {listed}. Two dedicated grids of one type must not overlap (each "
            f"{kind} has one grid and one worker); grids of other types (a school inside a park) "
            "may. Redraw it, merge the two, or send fix=clip.",
            "overlaps_same_type",
            first_where,
            crs=system,
            overlaps=overlaps,
            tolerance_m=tolerance_m,
        )
    if overlaps:
        listed = ", ".join(
            f"{o['code']} ({o['area_m2']:.1f} m² around {_fmt(o['location'])})" for o in overlaps
        )
        raise geometry_problem(
            f"The boundary overlaps {len(overlaps)} other grid(s) by more than {tolerance_m} m: "
            f"{listed}. Grids of one level must not overlap; redraw it, or send fix=clip.",
            "overlaps_sibling",
            first_where,
            crs=system,
            overlaps=overlaps,
            tolerance_m=tolerance_m,
        )
    return CheckedGeometry(geom, area_m2(geom))


def check_children_within(
    geom: BaseGeometry,
    children: Sequence[tuple[str, BaseGeometry]],
    *,
    tolerance_m: float = 0.5,
    crs: CoordinateSystem | str = CoordinateSystem.WGS84,
) -> None:
    """A parent's new boundary must still hold its current children (up to the tolerance)."""
    if not children:
        return
    system = CoordinateSystem.parse(crs)
    proj = metric_projector(geom)
    allowed = proj.to_metric(geom).buffer(tolerance_m)
    stuck: list[dict[str, Any]] = []
    for code, child in children:
        outside = shapely.difference(proj.to_metric(child), allowed)
        if outside.area > _NOISE_M2:
            stuck.append(
                {
                    "code": code,
                    "area_m2": round(area_m2(shapely.difference(child, geom)), 3),
                    "location": _where(outside, proj, system),
                }
            )
    if stuck:
        listed = ", ".join(f"{c['code']} ({c['area_m2']:.1f} m²)" for c in stuck)
        raise geometry_problem(
            f"The new boundary leaves parts of {len(stuck)} child grid(s) outside it: {listed}. "
            "Shrink or re-draw the children first, or draw the boundary around them.",
            "children_outside",
            stuck[0]["location"],
            crs=system,
            children=stuck,
        )


def validate_grid_geometry(
    geometry: Mapping[str, Any] | None,
    context: GridContext,
    *,
    crs: CoordinateSystem | str = CoordinateSystem.WGS84,
    tolerance_m: float = 0.5,
    fix: Fix = None,
    max_vertices: int = MAX_VERTICES,
) -> CheckedGeometry:
    """Both stages on a GeoJSON geometry: what the API and the importer call.

    Examples
    --------
    >>> box = shapely.box(109.70, 34.50, 109.72, 34.52)
    >>> ctx = GridContext(level=2, kind="general", district_adcode="610503",
    ...                   parent_code="610503001001", parent=box)
    >>> ring = [[109.70, 34.50], [109.71, 34.50], [109.71, 34.51], [109.70, 34.50]]
    >>> checked = validate_grid_geometry({"type": "Polygon", "coordinates": [ring]}, ctx)
    >>> round(checked.area_m2 / 1e6, 3)
    0.509
    """
    geom = parse_geometry(geometry, crs=crs, max_vertices=max_vertices)
    return check_placement(geom, context, tolerance_m=tolerance_m, fix=fix, crs=crs)


def parse_fix(value: str | None) -> Fix:
    """Read the ``fix`` option: ``clip`` or nothing."""
    if value in (None, "", "none"):
        return None
    if value == "clip":
        return "clip"
    raise InvalidInputError(f"fix must be 'clip' (or absent), not {value!r}.", value=value)


# -- attributes and cutting lines --------------------------------------------------------------


def check_attributes(
    properties: Mapping[str, Any], *, kind: str, partial: bool = False
) -> dict[str, Any]:
    """Check a grid's attribute properties; returns only the attribute keys, cleaned.

    ``partial`` (an edit) allows ``name`` to be absent. Unknown keys are not looked at here: the
    caller decides what else a Feature may carry.
    """
    from geogrid.vocabulary import DEDICATED_TYPES, ESTATE_TYPES

    out: dict[str, Any] = {}
    if "name" in properties or not partial:
        name = properties.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError(
                "A grid needs a name (a non-empty string).", rule="name", field="name"
            )
        out["name"] = name.strip()
    if kind == "dedicated":
        if "dedicated_type" in properties or not partial:
            value = properties.get("dedicated_type")
            if value not in DEDICATED_TYPES:
                raise InvalidInputError(
                    f"dedicated_type {value!r} must be one of {', '.join(DEDICATED_TYPES)} "
                    "for a dedicated grid.",
                    rule="dedicated_type",
                    field="dedicated_type",
                    allowed=list(DEDICATED_TYPES),
                )
            out["dedicated_type"] = value
    elif properties.get("dedicated_type") is not None:
        raise InvalidInputError(
            "Only dedicated grids (kind 'dedicated') have a dedicated_type.",
            rule="dedicated_type",
            field="dedicated_type",
        )
    if "estate_type" in properties:
        value = properties["estate_type"]
        if value is not None and value not in ESTATE_TYPES:
            raise InvalidInputError(
                f"estate_type {value!r} must be one of {', '.join(ESTATE_TYPES)} or null.",
                rule="estate_type",
                field="estate_type",
                allowed=list(ESTATE_TYPES),
            )
        out["estate_type"] = value
    for key in ("households", "population"):
        if key in properties:
            value = properties[key]
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 0
            ):
                raise InvalidInputError(
                    f"{key} must be a whole number ≥ 0 or null, not {value!r}.",
                    rule=key,
                    field=key,
                )
            out[key] = value
    if "attributes" in properties:
        value = properties["attributes"]
        if value is not None and not isinstance(value, Mapping):
            raise InvalidInputError(
                "attributes must be an object.", rule="attributes", field="attributes"
            )
        out["attributes"] = dict(value or {})
    return out


def parse_line(
    geometry: Mapping[str, Any] | None, *, crs: CoordinateSystem | str = CoordinateSystem.WGS84
) -> BaseGeometry:
    """A cutting line (GeoJSON LineString or MultiLineString, or a Feature of one) → WGS84."""
    system = CoordinateSystem.parse(crs)
    if isinstance(geometry, Mapping) and geometry.get("type") == "Feature":
        geometry = geometry.get("geometry")
    gtype = geometry.get("type") if isinstance(geometry, Mapping) else None
    if gtype not in ("LineString", "MultiLineString"):
        raise geometry_problem(
            f"A split needs a GeoJSON LineString to cut along, not {gtype or 'nothing'}.",
            "not_a_line",
            got=gtype,
        )
    assert geometry is not None
    try:
        line = shape(geometry)
    except (ValueError, TypeError, shapely.errors.GEOSException) as exc:
        raise geometry_problem(f"The line could not be read: {exc}.", "malformed") from None
    coords = shapely.get_coordinates(line)
    if line.is_empty or len(coords) < 2:
        raise geometry_problem("The cutting line needs at least two positions.", "empty")
    if not np.isfinite(coords).all():
        raise geometry_problem("The cutting line has NaN or Infinity coordinates.", "not_finite")
    out = (np.abs(coords[:, 0]) > 180) | (np.abs(coords[:, 1]) > 90)
    if out.any():
        i = int(np.argmax(out))
        raise geometry_problem(
            f"Vertex {_fmt(coords[i])} of the line is outside longitude/latitude range.",
            "out_of_range",
            coords[i],
            crs=system,
        )
    if system in (CoordinateSystem.WGS84, CoordinateSystem.CGCS2000):
        return line
    return geometry_to_wgs84(line, system, max_segment=CRS_MAX_SEGMENT)
