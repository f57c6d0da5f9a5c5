"""Exporting the grids in force at a time, as rows and geometries, files or bytes.

The columns (:data:`EXPORT_COLUMNS`) are those an import reads back
(:mod:`geogrid.grids.io_plan` ignores ``version`` and ``valid_from``), so an export round-trips.
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import shapely
from shapely.geometry import MultiPolygon
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from geogrid.grids.io_formats import GridFormat, write_features
from geogrid.rules.in_force import in_force_clause
from geogrid.storage.models import Grid, GridVersion

__all__ = [
    "EXPORT_COLUMNS",
    "export_grids",
    "export_rows",
    "export_to_bytes",
    "export_to_file",
]


EXPORT_COLUMNS = (
    "code",
    "name",
    "level",
    "parent",
    "kind",
    "ded_type",
    "estate",
    "households",
    "population",
    "attrs",
    "version",
    "valid_from",
)
"""Exported attribute columns (10 characters at most, so a Shapefile keeps them whole)."""


def export_rows(
    session: Session,
    *,
    level: int | None = None,
    at: datetime | None = None,
    district_adcode: str | None = None,
) -> tuple[list[dict[str, Any]], list[MultiPolygon]]:
    """The grids in force at ``at`` (default: now), as export rows and WGS84 geometries."""
    parent = aliased(Grid)
    query = (
        select(
            Grid.code,
            GridVersion.name,
            Grid.level,
            parent.code,
            Grid.kind,
            Grid.dedicated_type,
            GridVersion.estate_type,
            GridVersion.households,
            GridVersion.population,
            GridVersion.attributes,
            GridVersion.version,
            GridVersion.valid_from,
            func.ST_AsBinary(GridVersion.geom),
        )
        .join(GridVersion, GridVersion.grid_id == Grid.id)
        .outerjoin(parent, parent.id == Grid.parent_id)
        .order_by(Grid.level, Grid.code)
    )
    query = query.where(in_force_clause(at, version=GridVersion, grid=Grid))
    if level is not None:
        query = query.where(Grid.level == level)
    if district_adcode is not None:
        query = query.where(Grid.district_adcode == district_adcode)
    rows: list[dict[str, Any]] = []
    geometries: list[MultiPolygon] = []
    for r in session.execute(query):
        rows.append(
            {
                "code": r[0],
                "name": r[1],
                "level": r[2],
                "parent": r[3],
                "kind": r[4],
                "ded_type": r[5],
                "estate": r[6],
                "households": r[7],
                "population": r[8],
                "attrs": json.dumps(r[9], ensure_ascii=False) if r[9] else None,
                "version": r[10],
                "valid_from": r[11].isoformat(),
            }
        )
        geometries.append(shapely.from_wkb(bytes(r[12])))
    return rows, geometries


def export_grids(
    session: Session,
    directory: Path,
    *,
    fmt: GridFormat | str = GridFormat.GEOJSON,
    level: int | None = None,
    at: datetime | None = None,
    district_adcode: str | None = None,
    encoding: str = "utf-8",
    stem: str = "grids",
) -> Path:
    """Write the grids in force at ``at`` to ``directory``; returns the file (a ``.zip`` for
    Shapefile, whose attributes are written in ``encoding`` with a ``.cpg`` saying so)."""
    rows, geometries = export_rows(session, level=level, at=at, district_adcode=district_adcode)
    return write_features(
        rows, geometries, directory, stem, fmt, columns=EXPORT_COLUMNS, encoding=encoding
    )


def export_to_file(session: Session, **kwargs: Any) -> tuple[BinaryIO, GridFormat]:
    """:func:`export_grids` into a temporary file, open for reading from its start (for the
    API, which streams it). The file has no name left: closing it frees its space."""
    fmt = GridFormat.parse(kwargs.pop("fmt", GridFormat.GEOJSON))
    with tempfile.TemporaryDirectory(prefix="geogrid-export-") as tmp:
        path = export_grids(session, Path(tmp), fmt=fmt, **kwargs)
        # opened before the directory goes: the open file outlives its name
        return path.open("rb"), fmt


def export_to_bytes(session: Session, **kwargs: Any) -> tuple[bytes, GridFormat]:
    """:func:`export_grids` into memory."""
    file, fmt = export_to_file(session, **kwargs)
    with file:
        return file.read(), fmt
