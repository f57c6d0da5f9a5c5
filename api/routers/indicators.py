"""Routes for indicators: filed, closed, closure and on-time rates, time to close,
satisfaction, per grid / level-1 grid / street-town."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Query

from api.deps import SessionDep, SettingsDep
from geogrid.issues.indicators import indicators

router = APIRouter(tags=["indicators"])


@router.get("/analysis/indicators")
def get_indicators(
    session: SessionDep,
    settings: SettingsDep,
    date_from: datetime | None = Query(None, alias="from", description="default: 30 days ago"),
    date_to: datetime | None = Query(None, alias="to", description="default: now"),
    by: Literal["grid", "level1", "street"] = "street",
    grid: str | None = Query(None, description="only this grid code prefix"),
) -> dict[str, Any]:
    end = date_to or datetime.now(UTC)
    start = date_from or end - timedelta(days=30)
    rows = indicators(
        session,
        date_from=start,
        date_to=end,
        by=by,
        district_adcode=settings.district_adcode,
        grid_prefix=grid,
    )
    return {"from": start, "to": end, "by": by, "units": rows}
