"""OGC API – Features Part 3 (CQL2 filtering) for grids: the queryables and the translation of
a ``filter`` into a SQLAlchemy condition on the grids query.

pygeofilter parses CQL2 text and CQL2 JSON into an abstract syntax tree; this module walks that
tree itself instead of using pygeofilter's own SQLAlchemy backend, because that backend builds
EWKT strings for geometries and lets any unknown name through as a column. Here every property
is looked up in :data:`QUERYABLES` (an unknown one is a 400 naming the allowed ones), every
literal becomes a bound parameter, and geometries are converted to CRS84 with pyproj before
being bound as GeoJSON. No client text ever reaches the SQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import shapely
from lark.exceptions import LarkError
from pygeofilter import ast, values
from pygeofilter.backends.evaluator import Evaluator, handle
from pygeofilter.parsers.cql2_json import parse as parse_cql2_json
from pygeofilter.parsers.cql2_text import parse as parse_cql2_text
from sqlalchemy import and_, func, literal, not_, or_
from sqlalchemy.sql.elements import ColumnElement

from geogrid.errors import InvalidInputError
from geogrid.grids.repository import PARENT_GRID
from geogrid.spatial import ogc_crs
from geogrid.storage.models import Grid, GridVersion

__all__ = ["FILTER_LANGS", "QUERYABLES", "Queryable", "filter_clause", "queryables_document"]

FILTER_LANGS: Final = ("cql2-text", "cql2-json")


@dataclass(frozen=True)
class Queryable:
    """A property a filter may name: its column and its JSON Schema for ``/queryables``."""

    column: Callable[[], Any]
    schema: dict[str, Any]


QUERYABLES: Final[dict[str, Queryable]] = {
    "code": Queryable(lambda: Grid.code, {"type": "string", "title": "Grid code (18 digits)"}),
    "name": Queryable(lambda: GridVersion.name, {"type": "string", "title": "Name"}),
    "level": Queryable(lambda: Grid.level, {"type": "integer", "title": "Level (1-3)"}),
    "kind": Queryable(
        lambda: Grid.kind, {"type": "string", "enum": ["general", "dedicated"], "title": "Kind"}
    ),
    "dedicated_type": Queryable(
        lambda: Grid.dedicated_type, {"type": "string", "title": "Entity of a dedicated grid"}
    ),
    "district_adcode": Queryable(
        lambda: Grid.district_adcode, {"type": "string", "title": "District adcode"}
    ),
    "parent": Queryable(lambda: PARENT_GRID.code, {"type": "string", "title": "Parent code"}),
    "estate_type": Queryable(lambda: GridVersion.estate_type, {"type": "string"}),
    "households": Queryable(lambda: GridVersion.households, {"type": "integer"}),
    "population": Queryable(lambda: GridVersion.population, {"type": "integer"}),
    "area_m2": Queryable(lambda: GridVersion.area_m2, {"type": "number", "title": "Area (m²)"}),
    "valid_from": Queryable(
        lambda: GridVersion.valid_from, {"type": "string", "format": "date-time"}
    ),
    "geometry": Queryable(
        lambda: GridVersion.geom,
        {"format": "geometry-multipolygon", "x-ogc-role": "primary-geometry"},
    ),
}

_SPATIAL: Final[dict[str, Callable[[Any, Any], ColumnElement[bool]]]] = {
    "INTERSECTS": func.ST_Intersects,
    "DISJOINT": func.ST_Disjoint,
    "CONTAINS": func.ST_Contains,
    "WITHIN": func.ST_Within,
    "TOUCHES": func.ST_Touches,
    "CROSSES": func.ST_Crosses,
    "OVERLAPS": func.ST_Overlaps,
    "EQUALS": func.ST_Equals,
}
_COMPARE: Final[dict[str, Callable[[Any, Any], ColumnElement[bool]]]] = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class _Refused(Exception):
    """A construct the grids filter does not translate; becomes a 400 naming it."""


class _ToSQL(Evaluator):
    """CQL2 AST → SQLAlchemy, with geometry literals read in ``crs`` (the ``filter-crs``)."""

    def __init__(self, crs: str) -> None:
        self.crs = crs

    @handle(ast.Not)
    def not_(self, node: ast.Not, sub: Any) -> Any:
        return not_(sub)

    @handle(ast.And)
    def and_(self, node: ast.And, lhs: Any, rhs: Any) -> Any:
        return and_(lhs, rhs)

    @handle(ast.Or)
    def or_(self, node: ast.Or, lhs: Any, rhs: Any) -> Any:
        return or_(lhs, rhs)

    @handle(ast.Comparison, subclasses=True)
    def comparison(self, node: ast.Comparison, lhs: Any, rhs: Any) -> Any:
        return _COMPARE[node.op.value](lhs, rhs)

    @handle(ast.Between)
    def between(self, node: ast.Between, lhs: Any, low: Any, high: Any) -> Any:
        clause = lhs.between(low, high)
        return not_(clause) if node.not_ else clause

    @handle(ast.Like)
    def like(self, node: ast.Like, lhs: Any) -> Any:
        clause = lhs.ilike(node.pattern) if node.nocase else lhs.like(node.pattern)
        return not_(clause) if node.not_ else clause

    @handle(ast.In)
    def in_(self, node: ast.In, lhs: Any, *options: Any) -> Any:
        clause = lhs.in_(options)
        return not_(clause) if node.not_ else clause

    @handle(ast.IsNull)
    def is_null(self, node: ast.IsNull, lhs: Any) -> Any:
        return lhs.is_not(None) if node.not_ else lhs.is_(None)

    @handle(ast.SpatialComparisonPredicate, subclasses=True)
    def spatial(self, node: Any, lhs: Any, rhs: Any) -> Any:
        return _SPATIAL[node.op.name](lhs, rhs)

    @handle(ast.BBox)
    def bbox(self, node: ast.BBox, lhs: Any) -> Any:
        box = (float(node.minx), float(node.miny), float(node.maxx), float(node.maxy))
        minx, miny, maxx, maxy = ogc_crs.bbox_to_crs84(box, self.crs)
        return func.ST_Intersects(lhs, func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326))

    @handle(ast.Attribute)
    def attribute(self, node: ast.Attribute) -> Any:
        found = QUERYABLES.get(node.name)
        if found is None:
            raise _Refused(f"unknown property {node.name!r}; queryables: {', '.join(QUERYABLES)}")
        return found.column()

    @handle(str, float, int, bool, datetime, date)
    def scalar(self, node: Any) -> Any:
        return literal(node)

    @handle(values.Geometry)
    def geometry(self, node: values.Geometry) -> Any:
        shape = ogc_crs.geometry_to_crs84(shapely.geometry.shape(node.geometry), self.crs)
        return func.ST_SetSRID(
            func.ST_GeomFromGeoJSON(literal(json.dumps(shapely.geometry.mapping(shape)))), 4326
        )

    @handle(values.Envelope)
    def envelope(self, node: values.Envelope) -> Any:
        minx, miny, maxx, maxy = ogc_crs.bbox_to_crs84(
            (node.x1, node.y1, node.x2, node.y2), self.crs
        )
        return func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326)

    @handle(ast.Function)
    def function(self, node: ast.Function, *arguments: Any) -> Any:
        """Only CQL2's ``BBOX(x1, y1, x2, y2)`` literal, which pygeofilter's cql2-text grammar
        reads as a function call; no other function is offered (none is in the queryables)."""
        numbers = node.arguments
        if node.name.lower() != "bbox" or len(numbers) not in (4, 6):
            raise _Refused(f"function {node.name}() is not supported by this server")
        if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers):
            raise _Refused("BBOX() takes four (or six) numbers")
        x1, y1, x2, y2 = (numbers[0], numbers[1], numbers[-2], numbers[-1])
        if len(numbers) == 6:
            x2, y2 = numbers[3], numbers[4]
        minx, miny, maxx, maxy = ogc_crs.bbox_to_crs84(
            (float(x1), float(y1), float(x2), float(y2)), self.crs
        )
        return func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326)

    def adopt(self, node: Any, *sub_args: Any) -> Any:
        raise _Refused(f"{type(node).__name__} is not supported by this server")


def _bad(detail: str, parameter: str = "filter") -> InvalidInputError:
    return InvalidInputError(detail, rule="cql2_filter", parameter=parameter)


def filter_clause(
    text: str | None, *, lang: str | None = None, crs: str = ogc_crs.CRS84
) -> ColumnElement[bool] | None:
    """The grids condition for a CQL2 ``filter`` (text or JSON, per ``filter-lang``).

    ``None`` when there is no filter. ``crs`` is the already parsed ``filter-crs``: geometry
    literals are read in it. Every refusal is an :class:`InvalidInputError` with the rule
    ``cql2_filter`` naming what was wrong; callers in the OGC API turn it into a 400.
    """
    if lang not in (None, "", *FILTER_LANGS):
        raise _bad(f"filter-lang={lang!r}: use one of {', '.join(FILTER_LANGS)}.", "filter-lang")
    if text is None or text.strip() == "":
        if lang:
            raise _bad("filter-lang was given without a filter.", "filter-lang")
        return None
    try:
        tree = parse_cql2_json(json.loads(text)) if lang == "cql2-json" else parse_cql2_text(text)
    except (LarkError, ValueError, KeyError, TypeError) as exc:  # lark's, json's, pygeofilter's
        raise _bad(f"filter is not valid {lang or 'cql2-text'}: {type(exc).__name__}.") from None
    try:
        clause = _ToSQL(crs).evaluate(tree)
    except _Refused as exc:
        raise _bad(f"filter: {exc}.") from None
    except (KeyError, ValueError, TypeError) as exc:
        raise _bad(f"filter could not be translated: {type(exc).__name__}.") from None
    if not isinstance(clause, ColumnElement):
        raise _bad("filter is not a condition (a predicate such as code = '…').")
    return clause


def queryables_document(base: str, collection_id: str) -> dict[str, Any]:
    """``/collections/{id}/queryables``: a JSON Schema of the properties filters may name."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{base}/collections/{collection_id}/queryables",
        "type": "object",
        "title": collection_id,
        "properties": {name: q.schema for name, q in QUERYABLES.items()},
        "additionalProperties": False,
    }
