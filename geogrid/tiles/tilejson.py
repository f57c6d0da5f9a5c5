"""TileJSON 3.0.0 documents, one per tile layer, so MapLibre, Leaflet and QGIS can add a layer
from one URL (QGIS: Vector Tiles → New Generic Connection, or the TileJSON URL in MapLibre's
``sources``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid import __version__
from geogrid.tiles.layers import TILE_LAYERS, TileLayer

__all__ = ["district_bounds", "tilejson", "tiles_index"]

_WORLD = (-180.0, -85.0511287798066, 180.0, 85.0511287798066)


def district_bounds(session: Session, district_adcode: str) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` of the district: its admin boundary, or its grids when it
    has none; the whole Web Mercator world when it has neither."""
    row = session.execute(
        text(
            """
            SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (
              SELECT COALESCE(
                (SELECT ST_Extent(geom) FROM admin_areas WHERE code = :d),
                (SELECT ST_Extent(v.geom) FROM grid_versions v JOIN grids g ON g.id = v.grid_id
                 WHERE g.district_adcode = :d AND v.valid_to IS NULL)) AS e) AS b
            """
        ),
        {"d": district_adcode},
    ).one()
    if row[0] is None:
        return _WORLD
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


def tilejson(
    layer: TileLayer,
    *,
    base_url: str,
    district_adcode: str,
    district_name: str,
    bounds: tuple[float, float, float, float],
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The TileJSON of ``layer`` for one district; ``base_url`` is where the API answers
    (``http://host:8000/``) and ``query`` any further tile parameters (``at``, issue filters),
    repeated in the tiles URL template so the client asks for the same tiles.

    >>> doc = tilejson(TILE_LAYERS["grids-level1"], base_url="http://h/", district_adcode="610503",
    ...                district_name="华州区", bounds=(109.6, 34.2, 110.0, 34.6))
    >>> doc["tiles"][0]
    'http://h/tiles/grids-level1/{z}/{x}/{y}.mvt?district=610503'
    """
    params = urlencode({"district": district_adcode, **(query or {})})
    west, south, east, north = bounds
    center_zoom = max(layer.minzoom, 10)
    return {
        "tilejson": "3.0.0",
        "name": f"{district_name} {layer.title}",
        "description": layer.description,
        "version": __version__,
        "attribution": "geogrid; grids below district level in the demo are generated",
        "scheme": "xyz",
        "tiles": [f"{base_url.rstrip('/')}/tiles/{layer.name}/{{z}}/{{x}}/{{y}}.mvt?{params}"],
        "minzoom": layer.minzoom,
        "maxzoom": layer.maxzoom,
        "bounds": [round(v, 6) for v in bounds],
        "center": [round((west + east) / 2, 6), round((south + north) / 2, 6), center_zoom],
        "vector_layers": [
            {
                "id": layer.name,
                "description": layer.description,
                "minzoom": layer.minzoom,
                "maxzoom": layer.maxzoom,
                "fields": dict(layer.fields),
            }
        ],
    }


def tiles_index(*, base_url: str, district_adcode: str) -> dict[str, Any]:
    """Every layer with its title and the URL of its TileJSON."""
    base = base_url.rstrip("/")
    return {
        "district": district_adcode,
        "layers": [
            {
                "id": layer.name,
                "title": layer.title,
                "minzoom": layer.minzoom,
                "maxzoom": layer.maxzoom,
                "tilejson": f"{base}/tiles/{layer.name}.json?district={district_adcode}",
            }
            for layer in TILE_LAYERS.values()
        ],
    }
