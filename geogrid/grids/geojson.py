"""Grid Features ⇄ rows: the one place that knows how a grid looks in GeoJSON.

A grid Feature's ``id`` is its code; ``properties`` carry the identity (code, level, kind,
parent code), the version and its validity, and the attributes. Coordinates are WGS84
longitude/latitude. The importer and the OGC API reuse :func:`grid_feature` and
:func:`split_feature`, so every door speaks the same dialect.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from shapely.geometry import MultiPolygon, mapping

from geogrid.errors import InvalidInputError

__all__ = [
    "ATTRIBUTE_PROPERTIES",
    "READ_ONLY_PROPERTIES",
    "GridRecord",
    "ParsedFeature",
    "crs_name",
    "etag",
    "feature_collection",
    "feature_collection_json",
    "grid_feature",
    "split_feature",
]

#: Properties a client may set on create and change on edit.
ATTRIBUTE_PROPERTIES: Final = (
    "name",
    "dedicated_type",
    "estate_type",
    "households",
    "population",
    "attributes",
)
#: Properties the server owns: accepted in input (so a GET can be edited and sent back) and
#: ignored; the server sets them.
READ_ONLY_PROPERTIES: Final = frozenset(
    {
        "version",
        "valid_from",
        "valid_to",
        "area_m2",
        "retired_at",
        "changed_by",
        "change_reason",
        "district_adcode",
        "current",
        "retirement",
    }
)


@dataclass(slots=True)
class GridRecord:
    """One version of a grid, joined with its identity: what the API returns."""

    code: str
    name: str
    level: int
    kind: str
    parent: str | None
    district_adcode: str
    version: int
    current_version: int
    valid_from: datetime
    valid_to: datetime | None
    retired_at: datetime | None
    geom: MultiPolygon
    area_m2: float
    dedicated_type: str | None = None
    estate_type: str | None = None
    households: int | None = None
    population: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    changed_by: str = "system"
    change_reason: str | None = None
    grid_id: int = 0
    #: In a history: the retirement that ended this version (who, when, why), else None.
    retirement: dict[str, Any] | None = None

    @property
    def is_current(self) -> bool:
        return self.valid_to is None and self.retired_at is None

    @property
    def etag(self) -> str:
        return etag(self.code, self.current_version)


def etag(code: str, version: int) -> str:
    """The strong entity tag of a grid at a version: ``"<code>-v<version>"`` (quotes included)."""
    return f'"{code}-v{version}"'


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def grid_feature(record: GridRecord, *, with_history: bool = False) -> dict[str, Any]:
    """A GeoJSON Feature for one grid version."""
    return {
        "type": "Feature",
        "id": record.code if not with_history else f"{record.code}-v{record.version}",
        "geometry": mapping(record.geom),
        "properties": _properties(record, with_history=with_history),
    }


def _properties(record: GridRecord, *, with_history: bool = False) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "code": record.code,
        "name": record.name,
        "level": record.level,
        "kind": record.kind,
        "parent": record.parent,
        "district_adcode": record.district_adcode,
        "version": record.version,
        "valid_from": _iso(record.valid_from),
        "valid_to": _iso(record.valid_to),
        "retired_at": _iso(record.retired_at),
        "current": record.is_current,
        "area_m2": round(record.area_m2, 2),
        "dedicated_type": record.dedicated_type,
        "estate_type": record.estate_type,
        "households": record.households,
        "population": record.population,
        "attributes": record.attributes,
    }
    if with_history:
        properties["changed_by"] = record.changed_by
        properties["change_reason"] = record.change_reason
        properties["retirement"] = record.retirement
    return properties


def feature_collection(
    records: Iterable[GridRecord],
    *,
    number_matched: int | None = None,
    links: list[dict[str, str]] | None = None,
    with_history: bool = False,
    **members: Any,
) -> dict[str, Any]:
    """A FeatureCollection with the OGC API paging members."""
    features = [grid_feature(r, with_history=with_history) for r in records]
    out: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if number_matched is not None:
        out["numberMatched"] = number_matched
    out["numberReturned"] = len(features)
    if links is not None:
        out["links"] = links
    out.update(members)
    return out


#: How Starlette's JSONResponse writes a body: the same bytes from both paths.
_dumps = functools.partial(
    json.dumps, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
)


def feature_collection_json(
    features_text: str,
    number_returned: int,
    *,
    number_matched: int | None = None,
    links: list[dict[str, str]] | None = None,
) -> bytes:
    """The body of :func:`feature_collection` for Features already written as JSON text and
    joined with commas (by PostgreSQL, see :func:`geogrid.grids.repository.list_grids_geojson`):
    the text is spliced in, never parsed; the members around it are written as
    ``JSONResponse`` writes them.

    >>> feature_collection_json('{"type": "Feature"}', 1, number_matched=7)[39:]
    b'[{"type": "Feature"}],"numberMatched":7,"numberReturned":1}'
    """
    members: dict[str, Any] = {}
    if number_matched is not None:
        members["numberMatched"] = number_matched
    members["numberReturned"] = number_returned
    if links is not None:
        members["links"] = links
    return b"".join(
        (
            b'{"type":"FeatureCollection","features":[',
            features_text.encode(),
            b"],",
            _dumps(members)[1:].encode(),
        )
    )


@dataclass(slots=True)
class ParsedFeature:
    """A grid Feature as a client sent it: geometry still raw GeoJSON (validation parses it)."""

    geometry: Mapping[str, Any] | None
    properties: dict[str, Any]
    crs: str | None = None
    reason: str | None = None


def crs_name(crs: Any) -> str | None:
    """The name in a GeoJSON (2008) named-CRS member, or None when there is no member."""
    if crs is None:
        return None
    name = crs.get("properties", {}).get("name") if isinstance(crs, Mapping) else None
    if not isinstance(name, str):
        raise InvalidInputError(
            'The "crs" member must be a named CRS: '
            '{"type": "name", "properties": {"name": "EPSG:4490"}}.',
            rule="crs",
        )
    return name


def _crs_member(obj: Mapping[str, Any]) -> str | None:
    return crs_name(obj.get("crs"))


def split_feature(obj: Mapping[str, Any]) -> ParsedFeature:
    """Read a Feature (or a bare geometry) sent by a client.

    Read-only properties (:data:`READ_ONLY_PROPERTIES`) are dropped, so a Feature fetched with
    GET can be edited and sent back. A ``crs`` member (named CRS, GeoJSON 2008 style) and a
    ``reason`` foreign member are picked up.
    """
    if not isinstance(obj, Mapping):
        raise InvalidInputError("The body must be a GeoJSON Feature object.", rule="malformed")
    if obj.get("type") == "Feature":
        props = obj.get("properties") or {}
        if not isinstance(props, Mapping):
            raise InvalidInputError("Feature properties must be an object.", rule="malformed")
        geometry = obj.get("geometry")
    elif obj.get("type") in ("Polygon", "MultiPolygon", "GeometryCollection", "Point"):
        props, geometry = {}, obj
    else:
        raise InvalidInputError(
            f"The body must be a GeoJSON Feature, not {obj.get('type')!r}.", rule="malformed"
        )
    properties = {k: v for k, v in props.items() if k not in READ_ONLY_PROPERTIES}
    reason = obj.get("reason")
    return ParsedFeature(
        geometry=geometry,
        properties=properties,
        crs=_crs_member(obj) or (geometry and _crs_member(geometry)) or None,
        reason=reason if isinstance(reason, str) else None,
    )
