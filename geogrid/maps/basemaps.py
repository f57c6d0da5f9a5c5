"""Basemaps of the map pages, and the coordinate shift some of them need.

``blank`` (the default) draws no tiles at all: pages must work on government networks with no
internet, and grid boundaries read well on a plain background. The others load tiles from the
internet when the network allows it:

``osm``       OpenStreetMap (WGS 84, lines up with stored coordinates);
``tianditu``  天地图 vector map and labels (CGCS2000, taken as WGS 84), which needs a key: from
              the ``tianditu_key`` argument or the ``GEOGRID_TIANDITU_KEY`` environment variable;
``amap``      高德 Amap, whose tiles are drawn in GCJ-02: every vector layer is then shifted from
              WGS 84 to GCJ-02 (:func:`geogrid.spatial.crs.geometry_from_wgs84`) so it lines up.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import folium
import numpy as np
from branca.element import Figure
from shapely.geometry import mapping, shape

from geogrid.errors import InvalidInputError
from geogrid.maps.layout import panel
from geogrid.spatial.crs import geometry_from_wgs84, wgs84_to_gcj02

__all__ = [
    "BACKGROUND",
    "BASEMAPS",
    "DisplayCRS",
    "TileSpec",
    "add_basemap",
    "add_html",
    "basemap_tiles",
    "bounds_of",
    "display_crs",
    "escape_properties",
    "new_map",
    "page_basemap",
    "title_box",
]

BASEMAPS = ("blank", "osm", "tianditu", "amap")
BACKGROUND = "#f3f1ea"
TIANDITU_KEY_ENV = "GEOGRID_TIANDITU_KEY"
MAX_ZOOM = 19

_TIANDITU = "https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
_AMAP = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"


def _check(basemap: str) -> str:
    if basemap not in BASEMAPS:
        raise InvalidInputError(
            f"unknown basemap {basemap!r}: use one of {', '.join(BASEMAPS)} (blank works offline)",
            value=basemap,
        )
    return basemap


class DisplayCRS:
    """Turns stored WGS 84 coordinates into those of the basemap (GCJ-02 for Amap)."""

    def __init__(self, basemap: str) -> None:
        self.gcj02 = _check(basemap) == "amap"

    def geometry(self, geojson: dict[str, Any]) -> dict[str, Any]:
        """A GeoJSON geometry, shifted if needed."""
        if not self.gcj02 or geojson is None:
            return geojson
        return dict(mapping(geometry_from_wgs84(shape(geojson), "gcj02")))

    def lonlat(self, lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
        """Arrays of longitudes and latitudes, shifted if needed."""
        lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        if not self.gcj02 or lon.size == 0:
            return lon, lat
        return wgs84_to_gcj02(lon, lat)

    def latlon_bounds(self, bounds: list[list[float]]) -> list[list[float]]:
        (s, w), (n, e) = bounds
        x, y = self.lonlat([w, e], [s, n])
        return [[float(y[0]), float(x[0])], [float(y[1]), float(x[1])]]


def display_crs(basemap: str) -> DisplayCRS:
    return DisplayCRS(basemap)


@dataclass(frozen=True)
class TileSpec:
    """One tile layer of a basemap, as Leaflet's ``L.tileLayer`` takes it: the Folium map
    pages and the people pages' own Leaflet maps (:func:`page_basemap`) draw the same ones."""

    url: str
    attribution: str
    name: str
    max_zoom: int
    subdomains: str | None = None
    overlay: bool = False


_OSM = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
_OSM_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)


def basemap_tiles(basemap: str, *, tianditu_key: str | None = None) -> list[TileSpec]:
    """The tile layers of ``basemap``, bottom first (none for ``blank``). Tianditu without a
    key is refused with what to do about it."""
    _check(basemap)
    if basemap == "osm":
        return [TileSpec(_OSM, _OSM_ATTRIBUTION, "OpenStreetMap", MAX_ZOOM)]
    if basemap == "tianditu":
        key = tianditu_key or os.environ.get(TIANDITU_KEY_ENV)
        if not key:
            raise InvalidInputError(
                f"the Tianditu basemap needs a key: set {TIANDITU_KEY_ENV} (a 天地图 browser "
                "key from console.tianditu.gov.cn), or choose basemap=blank or osm",
                value=basemap,
            )
        return [
            TileSpec(
                _TIANDITU.format(layer=layer, key=key),
                "&copy; 天地图 Tianditu",
                name,
                18,
                subdomains="01234567",
                overlay=overlay,
            )
            for layer, name, overlay in (("vec", "天地图", False), ("cva", "天地图注记", True))
        ]
    if basemap == "amap":
        return [
            TileSpec(_AMAP, "&copy; 高德地图 AutoNavi (GCJ-02)", "高德地图", 18, subdomains="1234")
        ]
    return []


def add_basemap(m: folium.Map, basemap: str, *, tianditu_key: str | None = None) -> None:
    """Add the tile layers of ``basemap`` to ``m`` (none for ``blank``)."""
    for tiles in basemap_tiles(basemap, tianditu_key=tianditu_key):
        options: dict[str, Any] = {"subdomains": tiles.subdomains} if tiles.subdomains else {}
        folium.TileLayer(
            tiles.url,
            attr=tiles.attribution,
            name=tiles.name,
            overlay=tiles.overlay,
            max_zoom=tiles.max_zoom,
            **options,
        ).add_to(m)


def page_basemap(basemap: str, *, tianditu_key: str | None = None) -> dict[str, Any]:
    """What a page's own Leaflet map needs to draw ``basemap`` (``api/pages_static/map.js``):
    its tile layers and the coordinates its vector layers are drawn in (``gcj02`` for Amap:
    the page has them shifted by :class:`DisplayCRS`, through ``POST /maps/shift``, and sends
    a clicked point with ``crs=gcj02``)."""
    return {
        "basemap": basemap,
        "crs": "gcj02" if display_crs(basemap).gcj02 else "wgs84",
        "tiles": [asdict(t) for t in basemap_tiles(basemap, tianditu_key=tianditu_key)],
    }


def new_map(
    bounds: list[list[float]],
    *,
    basemap: str,
    title: str,
    tianditu_key: str | None = None,
) -> folium.Map:
    """An empty map fitted to ``bounds`` (``[[south, west], [north, east]]``, WGS 84) with the
    chosen basemap and a page title."""
    crs = display_crs(basemap)
    shown = crs.latlon_bounds(bounds)
    center = ((shown[0][0] + shown[1][0]) / 2, (shown[0][1] + shown[1][1]) / 2)
    # Without tiles Leaflet has no maxZoom (folium gives it to tile layers only).
    m = folium.Map(location=center, zoom_start=10, tiles=None, control_scale=True, maxZoom=MAX_ZOOM)
    add_basemap(m, basemap, tianditu_key=tianditu_key)
    figure = m.get_root()
    assert isinstance(figure, Figure)
    figure.title = html.escape(title)
    figure.header.add_child(
        folium.Element(f"<style>.folium-map.leaflet-container{{background:{BACKGROUND};}}</style>"),
        name="geogrid_background",
    )
    m.fit_bounds(shown)
    return m


def title_box(title: str, lines: list[str]) -> folium.Element:
    """The box at the top left of the page: the title, which is also its toggle, and a few lines
    of context that fold away on a phone (:func:`geogrid.maps.layout.panel`)."""
    body = "<br>".join(f'<span style="color:#555">{html.escape(line)}</span>' for line in lines)
    return panel("geogrid-title", title, body, corner="topleft", toggle_label=title)


def bounds_of(geometries: list[dict[str, Any]]) -> list[list[float]]:
    """``[[south, west], [north, east]]`` of GeoJSON geometries."""
    import shapely

    geoms = [shape(g) for g in geometries if g]
    if not geoms:
        raise InvalidInputError("nothing to show on the map")
    w, s, e, n = shapely.total_bounds(geoms)
    return [[float(s), float(w)], [float(n), float(e)]]


Shift = Callable[[dict[str, Any]], dict[str, Any]]


def escape_properties(
    collection: dict[str, Any], shift: DisplayCRS | None = None
) -> dict[str, Any]:
    """A copy of a FeatureCollection whose string properties are HTML-escaped (Leaflet writes
    tooltips and popups as HTML, and names are typed in by people) and whose geometries are
    shifted to the basemap's coordinates."""
    features = []
    for f in collection["features"]:
        props = {k: html.escape(v) if isinstance(v, str) else v for k, v in f["properties"].items()}
        geometry = shift.geometry(f["geometry"]) if shift else f["geometry"]
        features.append({"type": "Feature", "properties": props, "geometry": geometry})
    return {"type": "FeatureCollection", "features": features}


def add_html(m: folium.Map, element: folium.Element, name: str) -> None:
    """Put ``element`` (a title, legend or table) in the page body, above the map."""
    figure = m.get_root()
    assert isinstance(figure, Figure)  # folium.Map always puts itself in one
    figure.html.add_child(element, name=name)
