"""Drawing a grid: create one, or change its boundary and attributes (a new version).

Each edit is one function taking the session (the caller owns the transaction), the codes, the
edit, and keyword-only ``actor``, ``reason`` and ``expected_version``. Every change is a new row
of ``grid_versions``; nothing is deleted, so ``at=`` reads and restores keep working.
Preconditions (version, lock, retired) are in :mod:`geogrid.grids.preconditions`.

:func:`context_for` (what a boundary is checked against), :func:`children_geoms` and
:func:`fields_of` are also used by :mod:`geogrid.grids.lifecycle` (a restore is checked like a
drawing), :mod:`geogrid.grids.restructure` and :mod:`geogrid.grids.proposals`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry.base import BaseGeometry
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from geogrid.errors import ConflictError, InvalidInputError
from geogrid.grids import repository as repo
from geogrid.grids.codes import parse_grid_code
from geogrid.grids.followups import settle_by_location
from geogrid.grids.geojson import ATTRIBUTE_PROPERTIES, GridRecord, ParsedFeature
from geogrid.grids.preconditions import lock_for_edit
from geogrid.grids.validation import (
    MAX_VERTICES,
    Fix,
    GridContext,
    check_attributes,
    check_children_within,
    check_placement,
    parse_geometry,
)
from geogrid.spatial.crs import CoordinateSystem
from geogrid.storage.models import AdminArea, Grid

__all__ = [
    "EditResult",
    "children_geoms",
    "context_for",
    "create_grid",
    "fields_of",
    "update_grid",
]


_IDENTITY = ("code", "level", "kind", "parent")


@dataclass(slots=True)
class EditResult:
    """The grid after an edit, and what ``fix=clip`` changed (empty when nothing)."""

    record: GridRecord
    fixes: list[dict[str, Any]] = field(default_factory=list)


def _refuse_unknown(props: Mapping[str, Any]) -> None:
    unknown = set(props) - set(ATTRIBUTE_PROPERTIES)
    if unknown:
        raise InvalidInputError(
            f"Unknown properties: {', '.join(sorted(unknown))}.", rule="properties"
        )


def context_for(
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
    locked = lock_for_edit(session, code, expected_version, reach)
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
    fields = fields_of(current) | changes
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
        context = context_for(session, current, near=parsed, dedicated_type=dedicated_type)
        checked = check_placement(parsed, context, tolerance_m=tolerance_m, fix=fix, crs=system)
        check_children_within(
            checked.geom, children_geoms(session, code), tolerance_m=tolerance_m, crs=system
        )
        geom, area, fixes = checked.geom, checked.area_m2, checked.fixes
    elif fix is not None:
        raise InvalidInputError("fix=clip needs a geometry to clip.", rule="fix")
    elif dedicated_type is not None and dedicated_type != current.dedicated_type:
        # a new type brings new neighbours: the boundary must not overlap a grid of that type
        context = context_for(session, current, near=current.geom, dedicated_type=dedicated_type)
        check_placement(current.geom, context, tolerance_m=tolerance_m)
    if feature.geometry is None and all(fields[k] == fields_of(current)[k] for k in fields):
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


def children_geoms(session: Session, code: str) -> list[tuple[str, BaseGeometry]]:
    return [(c.code, c.geom) for c in repo.children(session, code)]


def fields_of(record: GridRecord) -> dict[str, Any]:
    return {
        "name": record.name,
        "dedicated_type": record.dedicated_type,
        "estate_type": record.estate_type,
        "households": record.households,
        "population": record.population,
        "attributes": dict(record.attributes),
    }
