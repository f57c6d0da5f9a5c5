"""Possible duplicates (FixMyStreet's "is this already reported?"): open issues of the same
category within 50 m and 7 days. Distances on the ellipsoid (geography), in metres."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid.issues.workflow import OPEN_STATES

__all__ = ["DUPLICATE_DAYS", "DUPLICATE_RADIUS_M", "duplicate_candidates"]

DUPLICATE_RADIUS_M = 50.0
DUPLICATE_DAYS = 7

_SQL = text(
    """
    SELECT i.id, i.status, i.reported_at, i.description,
           ST_Distance(i.geom::geography, p.g::geography) AS distance_m
    FROM issues i,
         (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g) p
    WHERE i.category_id = :category_id
      AND i.status = ANY(:open)
      AND i.id <> :exclude
      AND i.reported_at >= :since AND i.reported_at <= :now
      AND i.geom && ST_Expand(p.g, :deg)
      AND ST_DWithin(i.geom::geography, p.g::geography, :radius)
    ORDER BY distance_m, i.reported_at DESC
    LIMIT 20
    """
)


def duplicate_candidates(
    session: Session,
    *,
    lon: float,
    lat: float,
    category_id: int,
    now: datetime,
    exclude_id: int = 0,
) -> list[dict[str, Any]]:
    """Open issues that may report the same thing, nearest first."""
    rows = session.execute(
        _SQL,
        {
            "lon": lon,
            "lat": lat,
            "category_id": category_id,
            "open": sorted(OPEN_STATES),
            "exclude": exclude_id,
            "since": now - timedelta(days=DUPLICATE_DAYS),
            "now": now,
            "radius": DUPLICATE_RADIUS_M,
            # a bounding box for the index, generous in longitude (degrees shrink with cos lat)
            "deg": 2 * DUPLICATE_RADIUS_M / (111_320 * max(math.cos(math.radians(lat)), 0.05)),
        },
    ).mappings()
    return [
        {
            "id": r["id"],
            "status": r["status"],
            "reported_at": r["reported_at"],
            "distance_m": round(float(r["distance_m"]), 1),
            "description": r["description"],
        }
        for r in rows
    ]
