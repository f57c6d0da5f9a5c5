"""Request models of the issues API. Server-owned fields (status, grid, assignee, version,
deadlines) are never accepted from a client; reads are plain dicts built by geogrid.issues."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "AgendaDecisions",
    "AttributeDefinition",
    "CalendarDayCreate",
    "CalendarDaysCreate",
    "CategoryCreate",
    "CategoryUpdate",
    "DepartmentCreate",
    "DepartmentUpdate",
    "EscalateRequest",
    "IssueCreate",
    "TransitionCreate",
]

Level = Literal["grid", "community", "street", "department", "district"]
#: The longest name a category or department may have: what a ledger column or a service list
#: shows (a 50 MB name once made /open311/v2/services.json 157 MB).
NAME_MAX = 200


class IssueCreate(BaseModel):
    """A report: a point (lon/lat in ``crs``) or an address, a category code and what is wrong."""

    model_config = ConfigDict(extra="forbid")

    lon: float | None = None
    lat: float | None = None
    crs: Literal["wgs84", "cgcs2000", "gcj02", "bd09"] = "wgs84"
    address: str | None = Field(default=None, max_length=500)
    category: str = Field(min_length=1, max_length=16, description="category code, e.g. 1201")
    description: str = Field(min_length=1, max_length=5000)
    source: Literal["resident", "grid_round", "hotline", "mini_program"] = "resident"
    reporter_name: str | None = Field(default=None, max_length=100)
    reporter_phone: str | None = Field(default=None, max_length=32, pattern=r"^[0-9+\- ]{3,32}$")
    reporter_email: str | None = Field(
        default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    )

    @model_validator(mode="after")
    def _point_or_address(self) -> IssueCreate:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("give both lon and lat, or neither")
        if self.lon is None and not self.address:
            raise ValueError("a report needs lon and lat, or an address")
        return self


class TransitionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(max_length=32, description="target state, e.g. accepted, in_progress, closed")
    note: str | None = Field(default=None, max_length=2000)
    decision: str | None = Field(default=None, max_length=5000)
    resolution: str | None = Field(default=None, max_length=5000)
    rating: Literal["satisfied", "basically_satisfied", "unsatisfied"] | None = None
    department: str | None = Field(
        default=None, max_length=32, description="department code (吹哨报到)"
    )
    assignee_staff_id: int | None = None
    duplicate_of: int | None = None


class EscalateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=2000)


class AttributeDefinition(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    datatype: Literal[
        "string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"
    ] = "string"
    required: bool = False
    description: str = Field(max_length=2000)
    datatype_description: str | None = Field(default=None, max_length=2000)
    position: int = 0
    values: list[dict[str, str]] = Field(default_factory=list)


class CategoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[0-9A-Za-z]{2,16}$")
    name: str = Field(min_length=1, max_length=NAME_MAX)
    parent_code: str | None = Field(default=None, max_length=16)
    default_level: Level = "grid"
    deadline_hours: int = Field(default=72, gt=0)
    deadline_working_time: bool = Field(
        default=True,
        description="count deadline_hours in working hours (true) or calendar hours (false)",
    )
    department_code: str | None = Field(default=None, max_length=32)
    description: str | None = Field(default=None, max_length=2000)
    attributes: list[AttributeDefinition] = Field(default_factory=list, max_length=100)


class CategoryUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    parent_code: str | None = Field(default=None, max_length=16)
    default_level: Level | None = None
    deadline_hours: int | None = Field(default=None, gt=0)
    deadline_working_time: bool | None = None
    department_code: str | None = Field(default=None, max_length=32)
    description: str | None = Field(default=None, max_length=2000)
    active: bool | None = None
    attributes: list[AttributeDefinition] | None = Field(default=None, max_length=100)


class DepartmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[0-9A-Za-z_]{1,32}$")
    name: str = Field(min_length=1, max_length=NAME_MAX)
    kind: str = Field(default="other", max_length=32)
    phone: str | None = Field(default=None, max_length=32)


class DepartmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    kind: str | None = Field(default=None, max_length=32)
    phone: str | None = Field(default=None, max_length=32)
    active: bool | None = None


class AgendaDecision(BaseModel):
    issue_id: int
    decision: str = Field(min_length=1, max_length=5000)
    note: str | None = Field(default=None, max_length=2000)


class AgendaDecisions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decisions: list[AgendaDecision] = Field(min_length=1)


class CalendarDayCreate(BaseModel):
    """A holiday (``is_workday`` false) or a make-up working day (调休上班, true)."""

    model_config = ConfigDict(extra="forbid")

    date: dt.date
    is_workday: bool
    name: str = Field(min_length=1, max_length=100, description="e.g. 春节, 国庆节调休上班")


class CalendarDaysCreate(BaseModel):
    """Days for one district (``district``) or, without it, the national calendar."""

    model_config = ConfigDict(extra="forbid")

    district: str | None = Field(
        default=None, pattern=r"^[0-9]{6}$", description="adcode; omit for a national day"
    )
    days: list[CalendarDayCreate] = Field(min_length=1, max_length=400)
