"""Request and response models of the grids API (GeoJSON in, GeoJSON out).

Create and Update models accept only what a client may set; server-owned properties (version,
validity, area, who changed it) are dropped on input so a Feature fetched with GET can be edited
and sent back, and unknown properties are refused. Geometries stay raw GeoJSON here: the one
validation of boundaries is :mod:`geogrid.grids.validation`, which says where a fault is.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from geogrid.grids.geojson import READ_ONLY_PROPERTIES

__all__ = [
    "GridFeatureCreate",
    "GridFeatureRead",
    "GridFeatureUpdate",
    "GridPropertiesCreate",
    "GridPropertiesRead",
    "GridPropertiesUpdate",
    "MergeRequest",
    "RestoreRequest",
]

Kind = Literal["general", "dedicated"]
DedicatedType = Literal[
    "school",
    "hospital",
    "market",
    "enterprise",
    "park",
    "government",
    "scenic_area",
    "construction_site",
    "other",
]
EstateType = Literal["managed", "work_unit", "three_no", "self_built"]

_SQUARE = [[109.770, 34.505], [109.772, 34.505], [109.772, 34.507], [109.770, 34.505]]


class _ClientProperties(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _drop_server_owned(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in READ_ONLY_PROPERTIES}
        return data


class GridPropertiesCreate(_ClientProperties):
    """What a client gives for a new grid. ``code`` only for level-1 grids (its community or
    village code); the server issues every other code."""

    name: str = Field(min_length=1, max_length=200)
    parent: str | None = Field(default=None, max_length=18, description="Code of the parent grid.")
    kind: Kind = "general"
    level: int | None = Field(default=None, ge=1, le=3, description="Checked against parent.")
    code: str | None = Field(
        default=None, max_length=18, description="Level-1 only: the 12-digit code."
    )
    admin_area: str | None = Field(
        default=None, max_length=12, description="Level-1: community/village code."
    )
    dedicated_type: DedicatedType | None = None
    estate_type: EstateType | None = None
    households: int | None = Field(default=None, ge=0)
    population: int | None = Field(default=None, ge=0)
    attributes: dict[str, Any] = Field(default_factory=dict)


class GridPropertiesUpdate(_ClientProperties):
    """A partial change: absent properties stay; identity (code, level, kind, parent) may be
    repeated unchanged but not changed."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    code: str | None = None
    level: int | None = None
    kind: Kind | None = None
    parent: str | None = None
    dedicated_type: DedicatedType | None = None
    estate_type: EstateType | None = None
    households: int | None = Field(default=None, ge=0)
    population: int | None = Field(default=None, ge=0)
    attributes: dict[str, Any] | None = None


class _FeatureIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["Feature"]
    geometry: dict[str, Any] | None = None
    crs: dict[str, Any] | None = Field(
        default=None,
        description='Named CRS of the coordinates, e.g. {"type": "name", "properties": '
        '{"name": "EPSG:4490"}}; or use the crs query parameter. Default EPSG:4326.',
    )
    reason: str | None = Field(
        default=None, max_length=2000, description="Why: stored as change_reason."
    )


class GridFeatureCreate(_FeatureIn):
    properties: GridPropertiesCreate

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [_SQUARE]},  # type: ignore[list-item]
                "properties": {"name": "新网格", "parent": "610503001001", "kind": "general"},
            }
        }
    )


class GridFeatureUpdate(_FeatureIn):
    properties: GridPropertiesUpdate = Field(default_factory=GridPropertiesUpdate)


class GridPropertiesRead(BaseModel):
    code: str
    name: str
    level: int
    kind: Kind
    parent: str | None
    district_adcode: str
    version: int
    valid_from: str
    valid_to: str | None
    retired_at: str | None
    current: bool
    area_m2: float
    dedicated_type: str | None
    estate_type: str | None
    households: int | None
    population: int | None
    attributes: dict[str, Any]
    changed_by: str | None = None
    change_reason: str | None = None
    retirement: dict[str, Any] | None = Field(
        default=None, description="In a history: the retirement that ended this version."
    )


class GridFeatureRead(BaseModel):
    type: Literal["Feature"]
    id: str
    geometry: dict[str, Any]
    properties: GridPropertiesRead


class RestoreRequest(BaseModel):
    """Body of POST /grids/{code}/restore."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(
        default=None,
        ge=1,
        description="The version to bring back as a new version (a retired grid: default its "
        "last version).",
    )
    reason: str | None = Field(default=None, max_length=2000)


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    codes: list[str] = Field(
        min_length=2, max_length=100, description="Adjacent sibling grids to merge."
    )
    name: str | None = Field(default=None, min_length=1, max_length=200)
    reason: str | None = Field(default=None, max_length=2000)
