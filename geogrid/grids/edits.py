"""Boundary edits: create, edit, retire, restore, split, merge; and the gaps of a grid.

Each edit is one function taking the session (the caller owns the transaction), the codes, the
edit, and keyword-only ``actor``, ``reason`` and ``expected_version``. Every change is a new row
of ``grid_versions``; nothing is deleted: a retired grid keeps its code (never reused) and its
history, so ``at=`` reads and restores keep working.

Preconditions (optimistic concurrency): an edit names the version it started from
(``expected_version``; the web layer reads it from ``If-Match``, see ``api.preconditions``).
Missing → 428; stale → 412 with the current version. The check is made after the grid row is
locked (see :mod:`geogrid.grids.repository`), so of two edits from the same version exactly one
wins.

Split, merge, retire and restore change which grid covers a point; what hangs on the grids
(open issues, staff assignments) then follows by location, in :mod:`geogrid.grids.followups`.
Who retired a grid, when and why is a ``grid_retirements`` row, shown in the history; a
retired grid can be brought back (:func:`restore_grid`) when its boundary still fits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import shapely
import shapely.ops
from shapely.geometry import MultiPolygon, mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from geogrid.errors import (
    ConflictError,
    InvalidInputError,
    PreconditionFailedError,
    PreconditionRequiredError,
)
from geogrid.grids import repository as repo
from geogrid.grids.codes import parse_grid_code, reading_order
from geogrid.grids.followups import (
    CLOSED_ISSUE_STATUSES,
    BoundaryChange,
    follow,
    settle_by_location,
)
from geogrid.grids.geojson import ATTRIBUTE_PROPERTIES, GridRecord, ParsedFeature
from geogrid.grids.validation import (
    MAX_VERTICES,
    Fix,
    GridContext,
    area_m2,
    check_attributes,
    check_children_within,
    check_placement,
    check_polygonal,
    geometry_problem,
    metric_projector,
    parse_geometry,
    parse_line,
)
from geogrid.spatial.crs import CoordinateSystem
from geogrid.spatial.partition import as_multipolygon
from geogrid.storage.models import AdminArea, Grid

__all__ = [
    "CLOSED_ISSUE_STATUSES",
    "EditResult",
    "RestructureResult",
    "RetireResult",
    "check_version",
    "create_grid",
    "gaps",
    "merge_grids",
    "require_version",
    "restore_grid",
    "retire",
    "split_grid",
    "update_grid",
]

_IDENTITY = ("code", "level", "kind", "parent")
_CN_NUMERALS: Final = "一二三四五六七八九十"


@dataclass(slots=True)
class EditResult:
    """The grid after an edit, and what ``fix=clip`` changed (empty when nothing)."""

    record: GridRecord
    fixes: list[dict[str, Any]] = field(default_factory=list)


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


@dataclass(slots=True)
class RetireResult:
    """What retiring a grid did: the last version, the retirement (who, when, why), the open
    issues moved by location, and the staff whose assignments ended."""

    record: GridRecord
    retirement: dict[str, Any]
    retagged: list[dict[str, Any]]
    staff_decisions: list[dict[str, Any]]

    def members(self) -> dict[str, Any]:
        """Foreign members added to the retired grid's Feature in the response."""
        return {
            "retirement": self.retirement,
            "retagged_issues": len(self.retagged),
            "district_queue": sum(1 for r in self.retagged if r.get("district_queue")),
            "retags": self.retagged,
            "staff_decisions": self.staff_decisions,
        }


# -- preconditions ---------------------------------------------------------------------------


def require_version(expected_version: int | None, codes: Sequence[str]) -> None:
    """428 unless the caller named the version it edited (checked before any lock is taken)."""
    if expected_version is None:
        raise PreconditionRequiredError(
            f"An edit of grid {', '.join(codes)} must name the version it was made on, so that "
            "it cannot overwrite a change made meanwhile.",
            codes=list(codes),
        )


def check_version(expected_version: int | None, locked: repo.LockedGrid) -> None:
    """412 unless ``expected_version`` is the current version of ``locked`` (read under the
    row lock, so of two edits from the same version exactly one passes)."""
    require_version(expected_version, [locked.code])
    if expected_version == locked.current_version:
        return
    raise PreconditionFailedError(
        f"Grid {locked.code} is at version {locked.current_version}, but this edit was made on "
        f"version {expected_version}. Read it again, re-apply your change to version "
        f"{locked.current_version} and send that.",
        identifier=locked.code,
        current_version=locked.current_version,
        code=locked.code,
    )


def _lock_for_edit(
    session: Session,
    code: str,
    expected_version: int | None,
    reach: Sequence[str] | None,
    *,
    retired_ok: bool = False,
) -> repo.LockedGrid:
    """428 without an expected version, lock, 409 if retired (unless ``retired_ok``), 412 if
    stale."""
    require_version(expected_version, [code])
    locked = repo.lock_grid(session, code, reach=reach)
    if locked.retired_at is not None and not retired_ok:
        raise ConflictError(
            f"Grid {code} was retired at {locked.retired_at.isoformat()}: it cannot be edited. "
            "Its history keeps every version.",
            rule="retired",
            code=code,
        )
    check_version(expected_version, locked)
    return locked


def _refuse_with_children(session: Session, locked: repo.LockedGrid, what: str) -> None:
    kids = repo.current_children_codes(session, locked.id)
    if kids:
        shown = ", ".join(kids[:10]) + (f" and {len(kids) - 10} more" if len(kids) > 10 else "")
        raise ConflictError(
            f"Grid {locked.code} has {len(kids)} current child grid(s) ({shown}): {what} them "
            "first (retire, split or merge the children), then try again.",
            rule="has_children",
            code=locked.code,
            children=kids,
        )


# -- create / edit / retire / restore -----------------------------------------------------------


def _refuse_unknown(props: Mapping[str, Any]) -> None:
    unknown = set(props) - set(ATTRIBUTE_PROPERTIES)
    if unknown:
        raise InvalidInputError(
            f"Unknown properties: {', '.join(sorted(unknown))}.", rule="properties"
        )


def _context_for(
    session: Session, grid: GridRecord, *, near: BaseGeometry, dedicated_type: str | None
) -> GridContext:
    """What ``grid`` (its level, kind, district and parent) is checked against, itself left
    out, read near ``near``."""
    return repo.validation_context(
        session,
        level=grid.level,
        kind=grid.kind,
        district_adcode=grid.district_adcode,
        parent_code=grid.parent,
        near=near,
        exclude=[grid.code],
        code=grid.code,
        dedicated_type=dedicated_type,
    )


def _crs(feature: ParsedFeature, crs: str | None) -> CoordinateSystem:
    if crs and feature.crs and CoordinateSystem.parse(crs) != CoordinateSystem.parse(feature.crs):
        raise InvalidInputError(
            f"The crs query parameter ({crs}) and the Feature's crs member ({feature.crs}) "
            "disagree; send one.",
            rule="crs",
        )
    return CoordinateSystem.parse(crs or feature.crs or CoordinateSystem.WGS84)


def create_grid(
    session: Session,
    feature: ParsedFeature,
    *,
    actor: str,
    reason: str | None = None,
    crs: str | None = None,
    fix: Fix = None,
    tolerance_m: float = 0.5,
    max_vertices: int = MAX_VERTICES,
    reach: Sequence[str] | None = None,
) -> EditResult:
    """Create a grid from a client Feature; the server issues the code (level-1: given).

    Level and district follow from the parent; a level-1 grid has no parent and carries its
    12-digit community/village code in ``code`` (or ``admin_area``).
    """
    props = dict(feature.properties)
    kind = props.pop("kind", None) or "general"
    if kind not in ("general", "dedicated"):
        raise InvalidInputError(
            f"kind {kind!r} must be 'general' or 'dedicated'.", rule="kind", field="kind"
        )
    parent_code = props.pop("parent", None)
    given_code = props.pop("code", None)
    admin_area = props.pop("admin_area", None)
    level = props.pop("level", None)
    _refuse_unknown(props)
    fields = check_attributes(props, kind=kind)
    system = _crs(feature, crs)

    parent: GridRecord | None = None
    admin_area_id: int | None = None
    if parent_code is not None:
        if given_code is not None or admin_area is not None:
            raise InvalidInputError(
                "Codes of level-2 and level-3 grids are issued by the server: leave out 'code'.",
                rule="code",
                field="code",
            )
        parent = repo.get_current(session, parent_code, reach=reach)
        new_level = parent.level + 1
        if kind == "dedicated" and parent.level != 1:
            raise InvalidInputError(
                f"A dedicated grid lies under its community (a level-1 grid); {parent_code} is "
                f"level {parent.level}.",
                rule="parent",
                field="parent",
            )
        if new_level > 3:
            raise InvalidInputError(
                f"Grid {parent_code} is level 3: grids go three levels deep.",
                rule="level",
                field="parent",
            )
        if level is not None and level != new_level:
            raise InvalidInputError(
                f"A child of {parent_code} (level {parent.level}) is level {new_level}, "
                f"not {level}.",
                rule="level",
                field="level",
            )
        district = parent.district_adcode
    else:
        if kind == "dedicated" or (level not in (None, 1)):
            raise InvalidInputError(
                "Only level-1 general grids have no parent: give 'parent' (the parent's code).",
                rule="parent",
                field="parent",
            )
        code_value = given_code or admin_area
        if given_code and admin_area and given_code != admin_area:
            raise InvalidInputError("'code' and 'admin_area' disagree.", rule="code")
        if not code_value:
            raise InvalidInputError(
                "A level-1 grid is a community or village: give its 12-digit code in 'code' "
                "(adcode + street/town + community/village, e.g. 610503001001).",
                rule="code",
                field="code",
            )
        parsed = parse_grid_code(str(code_value))
        if parsed.level != 1:
            raise InvalidInputError(
                f"{code_value} is a level-{parsed.level} code; a grid without parent is level 1 "
                "(12 digits).",
                rule="code",
                field="code",
            )
        if reach is not None and not any(parsed.code.startswith(p) for p in reach):
            raise InvalidInputError(f"Grid {parsed.code} is outside your reach.", rule="reach")
        district = parsed.adcode
        new_level = 1
        admin_area_id = session.execute(
            select(AdminArea.id).where(AdminArea.code == parsed.code)
        ).scalar_one_or_none()

    geom = parse_geometry(feature.geometry, crs=system, max_vertices=max_vertices)
    repo.lock_family(session, district_adcode=district, parent_code=parent_code)
    context = repo.validation_context(
        session,
        level=new_level,
        kind=kind,
        district_adcode=district,
        parent_code=parent_code,
        near=geom,
        dedicated_type=fields.get("dedicated_type") if kind == "dedicated" else None,
    )
    checked = check_placement(geom, context, tolerance_m=tolerance_m, fix=fix, crs=system)
    if parent is not None:
        code = repo.next_child_code(session, parent.code, dedicated=kind == "dedicated")
        parent_id: int | None = parent.grid_id
    else:
        code = parse_grid_code(str(given_code or admin_area)).code
        parent_id = None
        if session.execute(select(Grid.id).where(Grid.code == code)).first() is not None:
            raise ConflictError(
                f"Grid code {code} is taken (codes are never reused, even after retirement).",
                code=code,
            )
    at = repo.now(session)
    grid_id = repo.insert_grid(
        session,
        code=code,
        district_adcode=district,
        level=new_level,
        kind=kind,
        parent_id=parent_id,
        admin_area_id=admin_area_id,
        fields=fields,
        geom=checked.geom,
        area_m2=checked.area_m2,
        actor=actor,
        reason=reason,
        valid_from=at,
    )
    # open issues at points the new grid covers now belong to it (or carry its tag)
    settle_by_location(
        session,
        district_adcode=district,
        area=checked.geom,
        grid_ids=[grid_id],
        operation="create",
        actor=actor,
        at=at,
    )
    return EditResult(repo.get_current(session, code), checked.fixes)


def update_grid(
    session: Session,
    code: str,
    feature: ParsedFeature,
    *,
    expected_version: int | None,
    actor: str,
    reason: str | None = None,
    crs: str | None = None,
    fix: Fix = None,
    tolerance_m: float = 0.5,
    max_vertices: int = MAX_VERTICES,
    reach: Sequence[str] | None = None,
) -> EditResult:
    """Change a grid's geometry and/or attributes: a new version (PATCH semantics: absent
    properties and a null/absent geometry stay as they are)."""
    locked = _lock_for_edit(session, code, expected_version, reach)
    current = repo.get_current(session, code)
    props = dict(feature.properties)
    for key in _IDENTITY:
        if key in props:
            value = props.pop(key)
            have = {
                "code": current.code,
                "level": current.level,
                "kind": current.kind,
                "parent": current.parent,
            }[key]
            if value != have:
                raise InvalidInputError(
                    f"{key} of grid {code} is {have!r} and cannot change (it is part of the "
                    "grid's identity); use split/merge or create a new grid.",
                    rule="identity",
                    field=key,
                )
    _refuse_unknown(props)
    changes = check_attributes(props, kind=current.kind, partial=True)
    fields = _fields_of(current) | changes
    if "attributes" not in changes:
        # a number given now is a count: it replaces the estimate a split apportioned
        counted = [f"{k}_estimated" for k in ("households", "population") if k in changes]
        if any(k in fields["attributes"] for k in counted):
            fields["attributes"] = {
                k: v for k, v in fields["attributes"].items() if k not in counted
            }
    dedicated_type = fields["dedicated_type"] if current.kind == "dedicated" else None
    geom, area, fixes = current.geom, current.area_m2, []
    if feature.geometry is not None:
        system = _crs(feature, crs)
        parsed = parse_geometry(feature.geometry, crs=system, max_vertices=max_vertices)
        context = _context_for(session, current, near=parsed, dedicated_type=dedicated_type)
        checked = check_placement(parsed, context, tolerance_m=tolerance_m, fix=fix, crs=system)
        check_children_within(
            checked.geom, _children_geoms(session, code), tolerance_m=tolerance_m, crs=system
        )
        geom, area, fixes = checked.geom, checked.area_m2, checked.fixes
    elif fix is not None:
        raise InvalidInputError("fix=clip needs a geometry to clip.", rule="fix")
    elif dedicated_type is not None and dedicated_type != current.dedicated_type:
        # a new type brings new neighbours: the boundary must not overlap a grid of that type
        context = _context_for(session, current, near=current.geom, dedicated_type=dedicated_type)
        check_placement(current.geom, context, tolerance_m=tolerance_m)
    if feature.geometry is None and all(fields[k] == _fields_of(current)[k] for k in fields):
        return EditResult(current)  # nothing changes: no new version
    if "dedicated_type" in changes and changes["dedicated_type"] != current.dedicated_type:
        session.execute(
            update(Grid).where(Grid.id == locked.id).values(dedicated_type=fields["dedicated_type"])
        )
    at = repo.now(session)
    repo.add_version(
        session,
        locked,
        fields=fields,
        geom=geom,
        area_m2=area,
        actor=actor,
        reason=reason,
        at=at,
    )
    if feature.geometry is not None:
        # a moved edge moves the open issues on either side of it: those still tagged to the
        # grid and those its new boundary takes in
        settle_by_location(
            session,
            district_adcode=current.district_adcode,
            area=geom,
            grid_ids=[locked.id],
            operation="reshape",
            actor=actor,
            at=at,
        )
    return EditResult(repo.get_current(session, code), fixes)


def _children_geoms(session: Session, code: str) -> list[tuple[str, BaseGeometry]]:
    return [(c.code, c.geom) for c in repo.children(session, code)]


def _fields_of(record: GridRecord) -> dict[str, Any]:
    return {
        "name": record.name,
        "dedicated_type": record.dedicated_type,
        "estate_type": record.estate_type,
        "households": record.households,
        "population": record.population,
        "attributes": dict(record.attributes),
    }


def retire(
    session: Session,
    code: str,
    *,
    expected_version: int | None,
    actor: str,
    reason: str | None = None,
    reach: Sequence[str] | None = None,
) -> RetireResult:
    """Retire a grid: its validity ends now, its code and history stay. 409 with children.

    Who, when and why are recorded (``grid_retirements``, shown in the history). Open issues
    of the grid move by location to the deepest current general grid at their point (for a
    level-2 grid, its parent), or to the district queue with a note when no grid covers them;
    each gets a ``retag`` event and keeps its assignee until someone reassigns it. Staff
    assignments on the grid end now and are listed as decisions to make.
    """
    locked = _lock_for_edit(session, code, expected_version, reach)
    _refuse_with_children(session, locked, "retire")
    current = repo.get_current(session, code)
    at = repo.now(session)
    repo.retire_grid(session, locked, at=at, actor=actor, reason=reason)
    done = follow(session, BoundaryChange("retire", retired=[current]), actor=actor, at=at)
    record = repo.history(session, code)[-1]
    assert record.retirement is not None
    return RetireResult(record, record.retirement, done.retagged, done.staff_decisions)


def restore_grid(
    session: Session,
    code: str,
    version: int | None,
    *,
    expected_version: int | None,
    actor: str,
    reason: str | None = None,
    fix: Fix = None,
    tolerance_m: float = 0.5,
    reach: Sequence[str] | None = None,
) -> EditResult:
    """Bring back version ``version`` (boundary and attributes) as a new version, checked
    against today's parent and siblings like any edit.

    On a retired grid this un-retires it, same code (codes are never reused by another grid, so
    the code is still its own): ``version`` defaults to the last one, the parent must be current
    (409 otherwise: restore the parent first) and the boundary must still fit among today's
    grids (422 naming what it overlaps, e.g. the pieces a split made: merge those instead).
    The retirement is closed with who restored it; open issues of the parent at points the grid
    covers come back to it (a ``retag`` event each); staff are not re-assigned.
    """
    locked = _lock_for_edit(session, code, expected_version, reach, retired_ok=True)
    retired = locked.retired_at is not None
    if version is None:
        if not retired:
            raise InvalidInputError(
                f"Give the version of {code} to restore (a body like {{'version': 2}}); its "
                "history lists its versions.",
                rule="version",
            )
        version = locked.current_version
    old = repo.get_version(session, code, version)
    if version == locked.current_version and not retired:
        raise InvalidInputError(
            f"Version {version} is the current version of {code}: nothing to restore.",
            rule="version",
        )
    if retired and locked.parent_code is not None:
        # FOR SHARE: a concurrent retirement of the parent (FOR UPDATE) waits for this restore
        # and then sees the restored child, or this waits for it and sees the parent retired
        parent_retired = session.execute(
            select(Grid.retired_at).where(Grid.id == locked.parent_id).with_for_update(read=True)
        ).scalar_one()
        if parent_retired is not None:
            raise ConflictError(
                f"Grid {code} cannot come back: its parent {locked.parent_code} is retired. "
                f"Restore {locked.parent_code} first, or draw a new grid under the parent that "
                "replaced it.",
                rule="parent_retired",
                code=code,
                parent=locked.parent_code,
            )
    context = _context_for(session, old, near=old.geom, dedicated_type=locked.dedicated_type)
    try:
        checked = check_placement(
            check_polygonal(old.geom), context, tolerance_m=tolerance_m, fix=fix
        )
    except InvalidInputError as exc:
        if retired and exc.rule in ("overlaps_sibling", "overlaps_same_type"):
            exc.detail += (
                f" Grid {code} was retired and its ground has since gone to these grids: to bring "
                "it back, merge or shrink them first, or restore with fix=clip."
            )
            exc.args = (exc.detail,)
        raise
    if not retired:  # a retired grid has no current children: retirement refuses them
        check_children_within(checked.geom, _children_geoms(session, code), tolerance_m=tolerance_m)
    at = repo.now(session)
    write = repo.unretire_grid if retired else repo.add_version
    write(
        session,
        locked,
        fields=_fields_of(old),
        geom=checked.geom,
        area_m2=checked.area_m2,
        actor=actor,
        reason=reason
        or (
            f"restored after retirement (version {version})"
            if retired
            else f"restored version {version}"
        ),
        at=at,
    )
    restored = repo.get_current(session, code)
    if retired:
        follow(session, BoundaryChange("restore", created=[restored]), actor=actor, at=at)
    return EditResult(restored, checked.fixes)


# -- split / merge ---------------------------------------------------------------------------


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
    locked = _lock_for_edit(session, code, expected_version, reach)
    if locked.level == 1:
        raise InvalidInputError(
            f"{code} is a level-1 grid, whose code is its community/village code: create the new "
            "communities as new grids (code given) and retire this one instead of splitting.",
            rule="level",
        )
    _refuse_with_children(session, locked, "split")
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
    base = _fields_of(current)
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
        _refuse_with_children(session, locked, "merge")
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
    fields = _fields_of(first) | {
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


# -- gaps ------------------------------------------------------------------------------------


def gaps(
    session: Session,
    code: str,
    *,
    tolerance_m: float = 0.5,
    reach: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Where the current general children of ``code`` leave holes in it, and where they
    overlap one another, as a GeoJSON FeatureCollection with areas in m².

    Pieces thinner than the tolerance (the floating-point seams of shared edges) are left out.
    """
    grid = repo.get_current(session, code, reach=reach)
    kids = repo.children(session, code, kind="general")
    proj = metric_projector(grid.geom)

    def substantial(geom: BaseGeometry) -> list[MultiPolygon]:
        parts = as_multipolygon(geom).geoms if not geom.is_empty else []
        return [
            as_multipolygon(p) for p in parts if not proj.to_metric(p).buffer(-tolerance_m).is_empty
        ]

    features: list[dict[str, Any]] = []
    if kids:
        covered = shapely.union_all([k.geom for k in kids])
        for piece in substantial(shapely.difference(grid.geom, covered)):
            features.append(_piece("gap", piece, [], proj))
        tree = shapely.STRtree([k.geom for k in kids])
        left, right = tree.query([k.geom for k in kids], predicate="intersects")
        for i, j in zip(left, right, strict=True):
            if i < j:
                a, b = kids[int(i)], kids[int(j)]
                for piece in substantial(shapely.intersection(a.geom, b.geom)):
                    features.append(_piece("overlap", piece, [a.code, b.code], proj))
    gap_area = sum(f["properties"]["area_m2"] for f in features if f["properties"]["kind"] == "gap")
    overlap_area = sum(
        f["properties"]["area_m2"] for f in features if f["properties"]["kind"] == "overlap"
    )
    return {
        "type": "FeatureCollection",
        "grid": code,
        "children": len(kids),
        "gap_area_m2": round(gap_area, 2),
        "overlap_area_m2": round(overlap_area, 2),
        "tolerance_m": tolerance_m,
        "numberReturned": len(features),
        "features": features,
    }


def _piece(kind: str, piece: MultiPolygon, codes: list[str], proj: Any) -> dict[str, Any]:
    where = piece.representative_point()
    return {
        "type": "Feature",
        "geometry": mapping(piece),
        "properties": {
            "kind": kind,
            "codes": codes,
            "area_m2": round(area_m2(piece), 2),
            "location": [round(where.x, 7), round(where.y, 7)],
        },
    }
