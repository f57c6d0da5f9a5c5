"""``GET /health``: is the database there, and which PostgreSQL and PostGIS answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import SessionDep
from geogrid.storage.database import postgis_version

router = APIRouter(tags=["health"])


@router.get("/health", summary="Service and database health")
def health(session: SessionDep) -> dict[str, Any]:
    versions = postgis_version(session)
    return {"status": "ok", "database": "ok", **versions}
