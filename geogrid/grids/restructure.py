"""Restructuring grids: split one along a line, merge adjacent ones, and apportion their counts.

A split retires one grid and creates its pieces; a merge retires several and creates one. Both
are checked like any drawing (:mod:`geogrid.grids.drawing`) under the preconditions of
:mod:`geogrid.grids.preconditions`, and households and population are shared by area
(:func:`apportion`). Open issues and staff assignments then follow by location in
:mod:`geogrid.grids.followups` (which re-assigns re-tagged issues through
:func:`geogrid.issues.routing.on_duty_post`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import shapely
import shapely.ops
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from geogrid.errors import ConflictError, InvalidInputError
from geogrid.grids import repository as repo
from geogrid.grids.codes import reading_order
from geogrid.grids.drawing import fields_of
from geogrid.grids.followups import BoundaryChange, follow
from geogrid.grids.geojson import GridRecord
from geogrid.grids.preconditions import (
    check_version,
    lock_for_edit,
    refuse_with_children,
    require_version,
)
from geogrid.grids.validation import (
    area_m2,
    check_polygonal,
    geometry_problem,
    metric_projector,
    parse_line,
)
from geogrid.spatial.crs import CoordinateSystem
from geogrid.spatial.partition import as_multipolygon

__all__ = [
    "RestructureResult",
    "apportion",
    "merge_grids",
    "split_grid",
]


_CN_NUMERALS: Final = "一二三四五六七八九十"


@dataclass(slots=True)
class RestructureResult:
    """What a split or merge did."""

    operation: str
    retired: list[str]
    created: list[GridRecord]
    area_before_m2: float
    area_after_m2: float
    retagged: list[dict[str, Any]]
    staff_decisions: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        from geogrid.grids.geojson import feature_collection

        return {
            "operation": self.operation,
            "retired": self.retired,
            "created": feature_collection(self.created),
            "area_before_m2": round(self.area_before_m2, 3),
            "area_after_m2": round(self.area_after_m2, 3),
            "retagged_issues": len(self.retagged),
            "retags": self.retagged,
            "staff_decisions": self.staff_decisions,
        }


def _ordinal(i: int) -> str:
    return _CN_NUMERALS[i] if i < len(_CN_NUMERALS) else str(i + 1)


def split_grid(
    session: Session,
    code: str,
    line: Mapping[str, Any] | None,
    *,
    expected_version: int | None,
    actor: str,
    reason: str | None = None,
    crs: str | None = None,
    names: Sequence[str] | None = None,
    tolerance_m: float = 0.5,
    reach: Sequence[str] | None = None,
) -> RestructureResult:
    """Cut a grid along ``line`` into two or more new grids (new codes); retire the old one.

    Pieces are numbered in reading order (north→south, west→east) and named ``names[i]`` or
    "<old name>（一）", "（二）"... Households and population are apportioned by area (whole
    numbers summing to the old totals): an estimate until someone counts, flagged in the
    attributes (``households_estimated``/``population_estimated``: true, ``estimated_from``);
    a PATCH with a counted number clears the flag.
    """
    require_version(expected_version, [code])
    system = CoordinateSystem.parse(crs or CoordinateSystem.WGS84)
    cut = parse_line(line, crs=system)
    locked = lock_for_edit(session, code, expected_version, reach)
    if locked.level == 1:
        raise InvalidInputError(
            f"{code} is a level-1 grid, whose code is its community/village code: create the new "
            "communities as new grids (code given) and retire this one instead of splitting.",
            rule="level",
        )
    refuse_with_children(session, locked, "split")
    current = repo.get_current(session, code)
    pieces: list[BaseGeometry] = []
    for polygon in current.geom.geoms:
        pieces.extend(shapely.ops.split(polygon, cut).geoms)
    if len(pieces) < 2:
        start = shapely.get_coordinates(cut)[0]
        raise geometry_problem(
            f"The line does not cut grid {code} in two: it must cross the grid's boundary at "
            "least twice (start and end outside the grid).",
            "line_does_not_split",
            start,
            crs=system,
        )
    proj = metric_projector(current.geom)
    for piece in pieces:
        if proj.to_metric(piece).buffer(-tolerance_m).is_empty:
            raise geometry_problem(
                f"The cut leaves a sliver thinner than {2 * tolerance_m} m "
                f"({area_m2(piece):.2f} m²): move the line.",
                "sliver",
                list(piece.representative_point().coords[0]),
            )
    order = reading_order(
        [(p.centroid.x, p.centroid.y) for p in pieces],
        max(current.geom.bounds[3] - current.geom.bounds[1], 1e-9) / 4,
    )
    if names is not None and len(names) != len(pieces):
        raise InvalidInputError(
            f"The line cuts {code} into {len(pieces)} pieces but {len(names)} names were given.",
            rule="names",
        )
    at = repo.now(session)
    created: list[GridRecord] = []
    base = fields_of(current)
    areas = [area_m2(pieces[k]) for k in order]
    households = apportion(current.households, areas)
    population = apportion(current.population, areas)
    flags: dict[str, Any] = {
        f"{key}_estimated": True for key in ("households", "population") if base[key] is not None
    }
    if flags:
        flags["estimated_from"] = f"area share of {code}"
    for i, k in enumerate(order):
        piece = as_multipolygon(pieces[k])
        check_polygonal(piece)
        new_code = repo.next_child_code(
            session, current.parent or "", dedicated=current.kind == "dedicated"
        )
        fields = base | {
            "name": names[i] if names else f"{current.name}（{_ordinal(i)}）",
            "households": households[i],
            "population": population[i],
            "attributes": base["attributes"] | flags,
        }
        repo.insert_grid(
            session,
            code=new_code,
            district_adcode=current.district_adcode,
            level=current.level,
            kind=current.kind,
            parent_id=locked.parent_id,
            fields=fields,
            geom=piece,
            area_m2=areas[i],
            actor=actor,
            reason=reason or f"split of {code}",
            valid_from=at,
        )
        created.append(repo.get_current(session, new_code))
    repo.retire_grid(
        session,
        locked,
        at=at,
        actor=actor,
        reason=reason or f"split into {', '.join(c.code for c in created)}",
        operation="split",
    )
    return _restructured(session, BoundaryChange("split", [current], created), actor=actor, at=at)


def apportion(total: int | None, weights: Sequence[float]) -> list[int | None]:
    """Share a count among pieces in proportion to ``weights`` (areas), in whole numbers that
    add up to ``total`` (largest remainders); ``None`` stays unknown.

    >>> apportion(10, [1.0, 1.0, 1.0])
    [4, 3, 3]
    >>> apportion(None, [1.0, 2.0])
    [None, None]
    """
    if total is None:
        return [None] * len(weights)
    whole = sum(weights)
    raw = [total * w / whole if whole > 0 else total / len(weights) for w in weights]
    shares = [math.floor(r) for r in raw]
    left = total - sum(shares)
    by_remainder = sorted(range(len(raw)), key=lambda i: (shares[i] - raw[i], i))
    for i in by_remainder[:left]:
        shares[i] += 1
    out: list[int | None] = list(shares)
    return out


def merge_grids(
    session: Session,
    codes: Sequence[str],
    *,
    expected_versions: Mapping[str, int] | None,
    actor: str,
    reason: str | None = None,
    name: str | None = None,
    tolerance_m: float = 0.5,
    reach: Sequence[str] | None = None,
) -> RestructureResult:
    """Merge adjacent sibling grids into one new grid (new code); retire them.

    ``expected_versions`` must give the current version of every grid, by code (``None``, or
    a grid left out, is 428: a merge changes them all).
    """
    unique = sorted(set(codes))
    if len(unique) < 2:
        raise InvalidInputError("A merge needs two or more different grid codes.", rule="codes")
    versions = expected_versions or {}
    missing = [c for c in unique if c not in versions]
    if missing:
        require_version(None, missing)
    first = repo.get_current(session, unique[0], reach=reach)
    repo.lock_family(session, district_adcode=first.district_adcode, parent_code=first.parent)
    lockeds = [repo.lock_grid(session, c, reach=reach, family=False) for c in unique]
    for locked in lockeds:
        if locked.retired_at is not None:
            raise ConflictError(f"Grid {locked.code} is retired.", rule="retired", code=locked.code)
        check_version(versions[locked.code], locked)
    records = [repo.get_current(session, c) for c in unique]
    for r in records:
        if (r.parent, r.level, r.kind) != (first.parent, first.level, first.kind):
            raise InvalidInputError(
                f"Only siblings merge: {r.code} (parent {r.parent}, level {r.level}, {r.kind}) "
                f"and {first.code} (parent {first.parent}, level {first.level}, {first.kind}) "
                "are not.",
                rule="not_siblings",
            )
    if first.level == 1:
        raise InvalidInputError(
            "Level-1 grids are communities/villages with statistical codes: merge them by "
            "creating the new community as a new grid and retiring the old ones.",
            rule="level",
        )
    for locked in lockeds:
        refuse_with_children(session, locked, "merge")
    _check_adjacent(records, tolerance_m)
    merged = as_multipolygon(shapely.union_all([r.geom for r in records]))
    check_polygonal(merged)
    at = repo.now(session)
    new_code = repo.next_child_code(
        session, first.parent or "", dedicated=first.kind == "dedicated"
    )
    households = [r.households for r in records]
    population = [r.population for r in records]
    estates = {r.estate_type for r in records}
    estimated = {
        key: True
        for r in records
        for key in ("households_estimated", "population_estimated")
        if r.attributes.get(key)
    }
    fields = fields_of(first) | {
        "name": name or first.name,
        "households": sum(h for h in households if h is not None)
        if None not in households
        else None,
        "population": sum(p for p in population if p is not None)
        if None not in population
        else None,
        "estate_type": estates.pop() if len(estates) == 1 else None,
        "attributes": {"merged_from": unique, **estimated},
    }
    repo.insert_grid(
        session,
        code=new_code,
        district_adcode=first.district_adcode,
        level=first.level,
        kind=first.kind,
        parent_id=lockeds[0].parent_id,
        fields=fields,
        geom=merged,
        area_m2=area_m2(merged),
        actor=actor,
        reason=reason or f"merge of {', '.join(unique)}",
        valid_from=at,
    )
    for locked in lockeds:
        repo.retire_grid(
            session,
            locked,
            at=at,
            actor=actor,
            reason=reason or f"merged into {new_code}",
            operation="merge",
        )
    created = [repo.get_current(session, new_code)]
    return _restructured(session, BoundaryChange("merge", records, created), actor=actor, at=at)


def _check_adjacent(records: Sequence[GridRecord], tolerance_m: float) -> None:
    """Every grid must be linked to the others through shared edges (up to the tolerance)."""
    proj = metric_projector(records[0].geom)
    metric = [proj.to_metric(r.geom) for r in records]
    linked = {0}
    frontier = [0]
    while frontier:
        i = frontier.pop()
        for j in range(len(records)):
            if j not in linked and metric[i].distance(metric[j]) <= tolerance_m:
                # a corner touch is not adjacency: they must share an edge
                shared = metric[i].buffer(tolerance_m).intersection(metric[j].buffer(tolerance_m))
                if shared.area > tolerance_m * tolerance_m * 8:
                    linked.add(j)
                    frontier.append(j)
    apart = [records[j] for j in range(len(records)) if j not in linked]
    if apart:
        where = list(apart[0].geom.representative_point().coords[0])
        raise geometry_problem(
            f"Only adjacent grids merge: {', '.join(r.code for r in apart)} share no edge with "
            f"{records[0].code} and the others.",
            "not_adjacent",
            where,
            apart=[r.code for r in apart],
        )


def _restructured(
    session: Session, change: BoundaryChange, *, actor: str, at: Any
) -> RestructureResult:
    done = follow(session, change, actor=actor, at=at)
    return RestructureResult(
        operation=change.operation,
        retired=[r.code for r in change.retired],
        created=list(change.created),
        area_before_m2=sum(r.area_m2 for r in change.retired),
        area_after_m2=sum(r.area_m2 for r in change.created),
        retagged=done.retagged,
        staff_decisions=done.staff_decisions,
    )
