"""``GET /health``: is the database there, and which PostgreSQL and PostGIS answer.

200 when the database answers and takes writes; 503 problem+json naming the dependency that is
down (``"database": "unreachable"``, or ``"read_only"`` for a server that cannot take reports)
with ``Retry-After``, so a load balancer or an operator tells "down" from "broken". Nothing is
cached: the next call after the database is back answers 200.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import SessionDep, SettingsDep
from geogrid.errors import DatabaseUnavailableError
from geogrid.storage.database import database_read_only, postgis_version
from geogrid.storage.faults import database_location

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    summary="Service and database health",
    responses={503: {"description": "The database is unreachable or read-only"}},
)
def health(session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    versions = postgis_version(session)
    if database_read_only(session):
        raise DatabaseUnavailableError(
            "The database answers but is read-only (a standby, or writes switched off): "
            "reports and edits cannot be taken until it is writable again.",
            state="read_only",
            reason="the database is read-only",
            where=database_location(settings.database_url),
            retry_after_s=settings.retry_after_s,
        )
    return {"status": "ok", "database": "ok", **versions}
