"""Gaps and overlaps among a grid's current general children: a read, no edit.

Used by the office to see where a redrawing left ground uncovered or covered twice before
the next split or merge (:mod:`geogrid.grids.restructure`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import shapely
import shapely.ops
from shapely.geometry import MultiPolygon, mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from geogrid.grids import repository as repo
from geogrid.grids.validation import area_m2, metric_projector
from geogrid.spatial.partition import as_multipolygon

__all__ = [
    "gaps",
]


def gaps(
    session: Session,
    code: str,
    *,
    tolerance_m: float = 0.5,
    reach: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Where the current general children of ``code`` leave holes in it, and where they
    overlap one another, as a GeoJSON FeatureCollection with areas in m².

    Pieces thinner than the tolerance (the floating-point seams of shared edges) are left out.
    """
    grid = repo.get_current(session, code, reach=reach)
    kids = repo.children(session, code, kind="general")
    proj = metric_projector(grid.geom)

    def substantial(geom: BaseGeometry) -> list[MultiPolygon]:
        parts = as_multipolygon(geom).geoms if not geom.is_empty else []
        return [
            as_multipolygon(p) for p in parts if not proj.to_metric(p).buffer(-tolerance_m).is_empty
        ]

    features: list[dict[str, Any]] = []
    if kids:
        covered = shapely.union_all([k.geom for k in kids])
        for piece in substantial(shapely.difference(grid.geom, covered)):
            features.append(_piece("gap", piece, [], proj))
        tree = shapely.STRtree([k.geom for k in kids])
        left, right = tree.query([k.geom for k in kids], predicate="intersects")
        for i, j in zip(left, right, strict=True):
            if i < j:
                a, b = kids[int(i)], kids[int(j)]
                for piece in substantial(shapely.intersection(a.geom, b.geom)):
                    features.append(_piece("overlap", piece, [a.code, b.code], proj))
    gap_area = sum(f["properties"]["area_m2"] for f in features if f["properties"]["kind"] == "gap")
    overlap_area = sum(
        f["properties"]["area_m2"] for f in features if f["properties"]["kind"] == "overlap"
    )
    return {
        "type": "FeatureCollection",
        "grid": code,
        "children": len(kids),
        "gap_area_m2": round(gap_area, 2),
        "overlap_area_m2": round(overlap_area, 2),
        "tolerance_m": tolerance_m,
        "numberReturned": len(features),
        "features": features,
    }


def _piece(kind: str, piece: MultiPolygon, codes: list[str], proj: Any) -> dict[str, Any]:
    where = piece.representative_point()
    return {
        "type": "Feature",
        "geometry": mapping(piece),
        "properties": {
            "kind": kind,
            "codes": codes,
            "area_m2": round(area_m2(piece), 2),
            "location": [round(where.x, 7), round(where.y, 7)],
        },
    }
