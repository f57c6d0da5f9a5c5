"""Response models of the locate and address-registry endpoints (read-only: nothing here is
accepted from a client). The routes build their JSON from the library's dataclasses; these
models document it in OpenAPI."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

__all__ = [
    "AddressImportRead",
    "AddressMatchRead",
    "AdminAreaRead",
    "GridRead",
    "LocateRead",
    "PartyOrgRead",
    "SignboardRead",
    "StaffRead",
    "StaleRead",
]


class GridRead(BaseModel):
    id: int
    code: str
    name: str
    level: int
    kind: str
    dedicated_type: str | None
    version: int = Field(description="Version of the grid that answered")
    area_m2: float
    parent_id: int | None


class AdminAreaRead(BaseModel):
    id: int
    code: str
    name: str
    level: str = Field(description="district, street, town, community or village")


class StaffRead(BaseModel):
    staff_id: int
    name: str
    role: str
    role_label: str = Field(description="网格长, 网格员, 专属网格员 or 辅助网格员")
    post: str | None = Field(description="A, B or null (a member without a post)")
    phone: str | None = Field(description="Public work phone")
    availability: str
    away_until: datetime | None


class PartyOrgRead(BaseModel):
    name: str
    kind: str = Field(description="branch (网格党支部) or group (党小组)")
    secretary: str | None
    grid_code: str


class SignboardRead(BaseModel):
    """网格信息公示牌."""

    grid: GridRead
    post_a: StaffRead | None
    post_b: StaffRead | None
    on_duty: StaffRead | None = Field(description="A, or B when A is away")
    on_duty_reason: str = Field(description="Why, in English (label of on_duty_code)")
    on_duty_code: str = Field(
        description="Stable reason code: a_on_duty, a_away_b_covers, no_a_b_covers, both_away, "
        "a_away_no_b, no_a_b_away, no_posts or not_recorded (a past date)"
    )
    on_duty_label: str = Field(description="Why, in Chinese")
    members: list[StaffRead]
    party_organisations: list[PartyOrgRead]


class AddressMatchRead(BaseModel):
    address_id: int
    full_text: str
    lon: float
    lat: float
    score: float = Field(ge=0, le=100)
    precision: str = Field(description="exact, fuzzy or building (the query had no unit)")
    normalized_query: str
    town: str | None
    community: str | None


class StaleRead(BaseModel):
    """Present only on an answer given from memory while the database was unreachable."""

    message: str = Field(
        description='"boundaries as of revision R at T" (also the Geogrid-Stale header)'
    )
    boundary_revision: str = Field(description="The district's boundary revision answered from")
    checked_at: datetime = Field(description="Last moment that revision was confirmed current")
    reason: str = Field(description="Why the database could not be asked")


class LocateRead(BaseModel):
    lon: float = Field(description="WGS 84 longitude that was located")
    lat: float
    stale: StaleRead | None = Field(
        default=None,
        description="Only while the database is unreachable: the boundaries answered from",
    )
    district_adcode: str
    admin_areas: list[AdminAreaRead]
    chain: list[GridRead] = Field(description="Level 1 first, down to the deepest grid")
    deepest: GridRead | None
    dedicated: list[GridRead]
    signboard: SignboardRead | None
    dedicated_signboards: list[SignboardRead]
    address: AddressMatchRead | None
    at: datetime | None
    revision: str | None = Field(description="Boundary revision the answer was computed at")
    rule: str = Field(description="How a point on a shared edge is decided")


class AddressImportRead(BaseModel):
    imported: int
    district_adcode: str
