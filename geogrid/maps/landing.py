"""The landing map: a district's boundary and its current level-1 grids.

It is the first thing a district office sees, so it must open fast and offline: geometries are
simplified in PostGIS for display only (a few metres, far below what a screen shows at district
scale) and there is no tile layer, because tiles would come from the internet.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any

import folium
from branca.element import Figure
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from geogrid.errors import NotFoundError
from geogrid.maps.layout import ResponsiveLayerControl, add_layout, panel
from geogrid.rules.in_force import in_force_clause
from geogrid.storage.models import AdminArea, Grid, GridVersion

__all__ = ["DISPLAY_TOLERANCE_DEG", "LandingData", "landing_data", "landing_map"]

DISPLAY_TOLERANCE_DEG = 3e-5
"""Simplification tolerance in degrees: about 3 m north-south and 2.5 m east-west at 34°N."""

_COORD_DECIMALS = 6  # 0.1 m: more digits only make the page heavier
_BACKGROUND = "#f3f1ea"


@dataclass(frozen=True)
class LandingData:
    """What the landing map shows, as GeoJSON features (WGS84, simplified)."""

    district_adcode: str
    district_name: str | None
    district: dict[str, Any] | None
    grids: list[dict[str, Any]]


def _display_geojson(geom: Any) -> Any:
    return func.ST_AsGeoJSON(
        func.ST_SimplifyPreserveTopology(geom, DISPLAY_TOLERANCE_DEG), _COORD_DECIMALS
    )


def _feature(geometry_json: str, *, code: str, name: str) -> dict[str, Any]:
    # Leaflet writes tooltips as HTML, and names are typed in by people: escape them here.
    properties = {"code": code, "name": html.escape(name)}
    return {"type": "Feature", "properties": properties, "geometry": json.loads(geometry_json)}


def _current_level1_grids(district_adcode: str) -> Select[Any]:
    return (
        select(Grid.code, GridVersion.name, _display_geojson(GridVersion.geom))
        .join(GridVersion, GridVersion.grid_id == Grid.id)
        .where(
            Grid.district_adcode == district_adcode,
            Grid.level == 1,
            Grid.kind == "general",
            in_force_clause(None, version=GridVersion, grid=Grid),
        )
        .order_by(Grid.code)
    )


def landing_data(session: Session, *, district_adcode: str) -> LandingData:
    """The district boundary (if loaded) and its current general level-1 grids.

    Dedicated grids (schools, markets...) overlap the general ones and are left to their own
    layer elsewhere; retired grids and superseded versions are not shown.
    """
    district = session.execute(
        select(AdminArea.name, AdminArea.code, _display_geojson(AdminArea.geom)).where(
            AdminArea.code == district_adcode, AdminArea.level == "district"
        )
    ).first()
    grids = [
        _feature(geometry, code=code, name=name)
        for code, name, geometry in session.execute(_current_level1_grids(district_adcode))
    ]
    return LandingData(
        district_adcode=district_adcode,
        district_name=district.name if district else None,
        district=_feature(district[2], code=district.code, name=district.name)
        if district
        else None,
        grids=grids,
    )


def _bounds(features: list[dict[str, Any]]) -> list[list[float]]:
    """``[[south, west], [north, east]]`` of polygon features."""
    xs: list[float] = []
    ys: list[float] = []
    for feature in features:
        geometry = feature["geometry"]
        polygons = (
            geometry["coordinates"]
            if geometry["type"] == "MultiPolygon"
            else [geometry["coordinates"]]
        )
        for polygon in polygons:
            for ring in polygon:
                xs.extend(x for x, _ in ring)
                ys.extend(y for _, y in ring)
    return [[min(ys), min(xs)], [max(ys), max(xs)]]


def _collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def _district_style(_: dict[str, Any]) -> dict[str, Any]:
    return {"color": "#8a1c1c", "weight": 3, "fill": True, "fillOpacity": 0.03, "dashArray": "6 4"}


def _grid_style(_: dict[str, Any]) -> dict[str, Any]:
    return {"color": "#1f5f8b", "weight": 1, "fillColor": "#4a90c2", "fillOpacity": 0.15}


def _grid_highlight(_: dict[str, Any]) -> dict[str, Any]:
    return {"weight": 3, "fillOpacity": 0.35}


PAGES: tuple[tuple[str, str], ...] = (
    ("/maps/grids", "网格图"),
    ("/maps/heatmap", "问题热力图"),
    ("/maps/rates", "问题发生率"),
    ("/maps/hotspots", "热点分析"),
    ("/maps/gaps", "覆盖缺口"),
    ("/editor", "边界编辑"),
    ("/docs", "接口文档"),
)
"""Where an office user goes from the landing page (the pages the API serves)."""


def _title_box(title: str, subtitle: str) -> folium.Element:
    """The title box with the links to every page. It stays open on a phone too: it is how one
    gets anywhere from here, and with the layer control collapsed nothing lies on its links."""
    links = " · ".join(
        f'<a href="{href}" style="color:#1f5f8b;white-space:nowrap">{html.escape(label)}</a>'
        for href, label in PAGES
    )
    body = (
        f'<span style="color:#555">{html.escape(subtitle)}</span><br>'
        f'<nav style="margin-top:4px;font-size:13px;line-height:1.8">{links}</nav>'
    )
    return panel(
        "geogrid-title", title, body, corner="topleft", toggle_label=title, fold_on_phone=False
    )


def landing_map(session: Session, *, district_adcode: str) -> folium.Map:
    """The landing map of a district: its boundary and current level-1 grids, with tooltips.

    Raises :class:`~geogrid.errors.NotFoundError` when the district has neither a boundary nor
    grids yet. The map uses CDN URLs like any folium map: render it with
    :func:`geogrid.maps.assets.render_html` to serve it offline.
    """
    data = landing_data(session, district_adcode=district_adcode)
    if data.district is None and not data.grids:
        raise NotFoundError(
            f"district {district_adcode} has no boundary and no grids yet: "
            "load them (for the Huazhou demo: `geogrid demo load`)."
        )
    name = data.district_name or district_adcode
    bounds = _bounds([data.district] if data.district else data.grids)
    center = ((bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2)
    # Without tiles Leaflet has no maxZoom (folium gives max_zoom to tile layers only): 19 is
    # street level, and plugins such as MarkerCluster refuse a map without one.
    m = folium.Map(location=center, zoom_start=10, tiles=None, control_scale=True, maxZoom=19)
    figure = m.get_root()
    assert isinstance(figure, Figure)  # folium.Map always puts itself in one
    figure.title = html.escape(f"{name} 网格 / geogrid")
    figure.header.add_child(
        # Two classes: this style sits above leaflet.css in <head> and must still win.
        folium.Element(
            f"<style>.folium-map.leaflet-container{{background:{_BACKGROUND};}}</style>"
        ),
        name="geogrid_background",
    )

    if data.district is not None:
        folium.GeoJson(
            _collection([data.district]),
            name=html.escape(f"{name}边界"),  # the layer control writes names as HTML
            style_function=_district_style,
            tooltip=folium.GeoJsonTooltip(fields=["name", "code"], aliases=["区县", "代码"]),
        ).add_to(m)
    if data.grids:
        folium.GeoJson(
            _collection(data.grids),
            name="一级网格",
            style_function=_grid_style,
            highlight_function=_grid_highlight,
            tooltip=folium.GeoJsonTooltip(fields=["name", "code"], aliases=["网格", "编码"]),
        ).add_to(m)
    ResponsiveLayerControl().add_to(m)
    figure.html.add_child(
        _title_box(f"{name} 网格", f"一级网格 {len(data.grids)} 个"), name="geogrid_title"
    )
    add_layout(m)
    m.fit_bounds(bounds)
    return m
