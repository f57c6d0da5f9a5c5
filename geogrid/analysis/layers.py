"""The current grids of a district as analysis and maps need them: identity, households,
full geometry (for weights and measurements) and a simplified one (for display only).

Current is :func:`geogrid.rules.in_force.in_force` at no particular time (the open version of
a grid that is not retired). Display
geometries are simplified in PostGIS on the way out, never in storage.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from geogrid.analysis.filters import IssueFilter
from geogrid.errors import InvalidInputError, NotFoundError
from geogrid.rules.in_force import in_force_clause
from geogrid.storage.models import Grid, GridVersion, Issue, IssueGrid

__all__ = [
    "DISPLAY_TOLERANCE_DEG",
    "GridRecord",
    "current_grids",
    "district_name",
    "feature_collection",
    "issue_counts",
    "require_grids",
]

DISPLAY_TOLERANCE_DEG = 3e-5
"""About 3 m: invisible at the zooms a grid map is read at, and it halves the page."""
COORD_DECIMALS = 6


@dataclass
class GridRecord:
    """One current grid. ``display`` is the simplified GeoJSON geometry (WGS84)."""

    id: int
    code: str
    name: str
    level: int
    kind: str
    dedicated_type: str | None
    parent_id: int | None
    households: int | None
    population: int | None
    area_m2: float
    display: dict[str, Any]
    geom: BaseGeometry | None = None
    properties: dict[str, Any] = field(default_factory=dict)


def _check_level(level: int) -> None:
    if level not in (1, 2, 3):
        raise InvalidInputError(f"grid level must be 1, 2 or 3, got {level}", value=level)


def current_grids(
    session: Session,
    *,
    district_adcode: str,
    levels: Iterable[int] = (1, 2, 3),
    kinds: Sequence[str] = ("general",),
    with_geometry: bool = False,
    tolerance_deg: float = DISPLAY_TOLERANCE_DEG,
    with_display: bool = True,
) -> list[GridRecord]:
    """Current grids of ``levels`` and ``kinds``, in code order.

    ``with_geometry`` also loads the full stored geometry as shapely (for contiguity or
    measurements). ``with_display=False`` leaves ``display`` empty, for callers that take it
    from the stored display geometries (:func:`geogrid.analysis.stores.grid_display`) rather
    than simplifying every grid again.
    """
    levels = list(levels)
    for level in levels:
        _check_level(level)
    display: Any = (
        func.ST_AsGeoJSON(
            func.ST_SimplifyPreserveTopology(GridVersion.geom, tolerance_deg), COORD_DECIMALS
        )
        if with_display
        else literal("{}")
    )
    columns: list[Any] = [
        Grid.id,
        Grid.code,
        GridVersion.name,
        Grid.level,
        Grid.kind,
        Grid.dedicated_type,
        Grid.parent_id,
        GridVersion.households,
        GridVersion.population,
        GridVersion.area_m2,
        display,
    ]
    if with_geometry:
        columns.append(func.ST_AsBinary(GridVersion.geom))
    query = (
        select(*columns)
        .join(GridVersion, GridVersion.grid_id == Grid.id)
        .where(
            Grid.district_adcode == district_adcode,
            Grid.level.in_(levels),
            Grid.kind.in_(list(kinds)),
            in_force_clause(None, version=GridVersion, grid=Grid),
        )
        .order_by(Grid.code)
    )
    records = []
    for row in session.execute(query):
        records.append(
            GridRecord(
                id=row[0],
                code=row[1],
                name=row[2],
                level=row[3],
                kind=row[4],
                dedicated_type=row[5],
                parent_id=row[6],
                households=row[7],
                population=row[8],
                area_m2=float(row[9]),
                display=json.loads(row[10]),
                geom=shapely.from_wkb(bytes(row[11])) if with_geometry else None,
            )
        )
    return records


def require_grids(records: list[GridRecord], *, district_adcode: str, what: str) -> None:
    """Raise :class:`NotFoundError` when a district has no grids to analyse."""
    if not records:
        raise NotFoundError(
            f"district {district_adcode} has no current {what}: load or draw grids first "
            "(for the Huazhou demo: `geogrid demo load`).",
            district_adcode=district_adcode,
        )


#: Up to this many grids, :func:`issue_counts` is driven from the grids' tags; above it, from
#: the issues of the grids' districts.
FEW_GRIDS = 64


def issue_counts(
    session: Session, grid_ids: Sequence[int], issue_filter: IssueFilter | None = None
) -> dict[int, int]:
    """Issues per grid, through ``issue_grids`` (every grid an issue was tagged to, so a
    level-2 grid also counts the issues of its level-3 children).

    For a few grids the count is driven from their tags (``ix_issue_grids_grid_id``). For more
    (a district's page: ~2 000 grids), it is driven from the issues of those grids' districts
    and the period (``ix_issues_district_reported_at``), every tag of them counted and the
    wanted grids kept here. Put as one ``grid_id IN (…)`` join instead, the planner costs it
    against every district's issues: at a 5-million-issue province it probed
    ``pk_issue_grids`` with the whole grid list once per issue (4 772 issues × 1 921 index
    descents, 9.5 s, or the statement timeout without the district) where one district takes
    50 ms. An issue is only ever tagged to grids of its own district, so nothing is missed.
    """
    if not grid_ids:
        return {}
    wanted = set(grid_ids)
    clauses = (issue_filter or IssueFilter()).clauses()
    if len(wanted) <= FEW_GRIDS:
        query = (
            select(IssueGrid.grid_id, func.count())
            .join(Issue, Issue.id == IssueGrid.issue_id)
            .where(IssueGrid.grid_id.in_(wanted), *clauses)
            .group_by(IssueGrid.grid_id)
        )
    else:
        districts = session.execute(
            select(Grid.district_adcode).where(Grid.id.in_(wanted)).distinct()
        ).scalars()
        # Materialised, so it is planned on its own (an index range of the covering
        # (district_adcode, reported_at) index): joined inline, the row-security subplan of
        # issue_grids, costed as if it ran, dwarfed every choice for the issues side and the
        # planner kept a full scan of pk_issues for its order (3.6 s at the province).
        period = (
            select(Issue.id)
            .where(Issue.district_adcode.in_(list(districts)), *clauses)
            .cte("period")
            .prefix_with("MATERIALIZED")
        )
        query = (
            select(IssueGrid.grid_id, func.count())
            .join(period, period.c.id == IssueGrid.issue_id)
            .group_by(IssueGrid.grid_id)
        )
    return {int(g): int(n) for g, n in session.execute(query) if g in wanted}


def feature_collection(records: Iterable[GridRecord], *, geometry: Any = None) -> dict[str, Any]:
    """GeoJSON of ``records``: code, name, level, kind and each record's ``properties``.

    ``geometry`` (a function of the display GeoJSON geometry) lets maps shift the shapes, e.g.
    to GCJ-02 for Amap tiles.
    """
    features = []
    for r in records:
        props = {
            "code": r.code,
            "name": r.name,
            "level": r.level,
            "kind": r.kind,
            **r.properties,
        }
        geom = geometry(r.display) if geometry else r.display
        features.append({"type": "Feature", "properties": props, "geometry": geom})
    return {"type": "FeatureCollection", "features": features}


def district_name(session: Session, district_adcode: str) -> str:
    """The district's name for titles, or its adcode when no boundary is loaded."""
    from geogrid.storage.models import AdminArea

    name = session.execute(
        select(AdminArea.name).where(
            AdminArea.code == district_adcode, AdminArea.level == "district"
        )
    ).scalar()
    return name or district_adcode
