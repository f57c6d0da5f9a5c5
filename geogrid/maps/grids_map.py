"""The grids map (``/maps/grids``): every current grid by level, dedicated grids in their own
style, labels that appear as one zooms in, signboard popups and a search by code or name.

A layer with more grids than ``embed_limit`` is drawn from the vector tiles instead
(:mod:`geogrid.maps.vector_tiles`): its popups then show the tile's fields (name, code,
households; the signboard is one click away at ``/grids/{code}/signboard``), and it has no
labels or search entries, which would need every grid in the page."""

from __future__ import annotations

import json
from typing import Any

import folium
from branca.element import MacroElement
from folium.plugins import Search
from folium.template import Template
from shapely.geometry import shape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geogrid.analysis.layers import GridRecord, feature_collection
from geogrid.analysis.signboards import grid_signboards
from geogrid.maps.basemaps import escape_properties
from geogrid.maps.page import district_map
from geogrid.maps.vector_tiles import VectorTileLayer, tile_url
from geogrid.storage.models import Grid, GridVersion
from geogrid.tiles.tilejson import district_bounds

__all__ = ["LAYERS", "ZoomLabels", "grids_map"]

LAYERS: tuple[tuple[str, str, int, dict[str, Any]], ...] = (
    # key, layer name, label min zoom, style
    ("level1", "一级网格", 12, {"color": "#1b3a5c", "weight": 2.5, "fillOpacity": 0.0}),
    (
        "level2",
        "二级网格",
        14,
        {"color": "#2f6fa3", "weight": 1, "fillColor": "#6fa8d6", "fillOpacity": 0.12},
    ),
    (
        "level3",
        "三级网格",
        16,
        {"color": "#2e7d4f", "weight": 1, "fillColor": "#7cc49a", "fillOpacity": 0.15},
    ),
    (
        "dedicated",
        "专属网格",
        15,
        {
            "color": "#c05621",
            "weight": 1.5,
            "dashArray": "4 3",
            "fillColor": "#f6ad55",
            "fillOpacity": 0.35,
        },
    ),
)
_TILE_POPUP = [
    ("name", "网格"),
    ("code", "编码"),
    ("parent_code", "上级网格"),
    ("households", "户数"),
    ("population", "人口"),
    ("dedicated_type", "专属类型"),
]
_FIELDS = ["name", "code", "area_km2", "households", "a_post", "b_post", "on_duty"]
_ALIASES = ["网格", "编码", "面积 (km²)", "户数", "A岗", "B岗", "在岗"]


class ZoomLabels(MacroElement):
    """Permanent name labels on the features of some GeoJSON layers, each shown only from a
    zoom up: a district's 1 700 names at once would hide the map."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
        .gg-label{background:rgba(255,255,255,.75);border:0;box-shadow:none;padding:0 3px;
          font:12px/1.3 system-ui,sans-serif;color:#1b3a5c;display:none}
        .gg-label:before{display:none}
        .gg-search-point{pointer-events:none}
        {% for spec in this.specs %}.gg-show-{{ spec.key }} .gg-label-{{ spec.key }}{display:block}
        {% endfor %}
        </style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            var specs = {{ this.specs_json }};
            var layers = {
                {% for spec in this.specs %}"{{ spec.key }}": {{ spec.layer }},
                {% endfor %}
            };
            specs.forEach(function (spec) {
                function label(layer) {
                    if (!layer.feature) { return; }
                    layer.bindTooltip(layer.feature.properties.name, {
                        permanent: true, direction: "center", interactive: false,
                        className: "gg-label gg-label-" + spec.key
                    });
                }
                // features embedded in the page, and those its frame fetches afterwards
                layers[spec.key].eachLayer(label);
                layers[spec.key].on("layeradd", function (e) { label(e.layer); });
            });
            function update() {
                var zoom = map.getZoom(), box = map.getContainer();
                specs.forEach(function (spec) {
                    box.classList.toggle("gg-show-" + spec.key, zoom >= spec.min_zoom);
                });
            }
            map.on("zoomend", update);
            update();
        })();
        {% endmacro %}
        """
    )

    def __init__(self, specs: list[dict[str, Any]]) -> None:
        super().__init__()
        self._name = "ZoomLabels"
        self.specs = specs
        self.specs_json = json.dumps([{"key": s["key"], "min_zoom": s["min_zoom"]} for s in specs])


def _layer_key(g: GridRecord) -> str:
    return "dedicated" if g.kind == "dedicated" else f"level{g.level}"


def _search_index(grids: list[GridRecord], shift: Any) -> dict[str, Any]:
    """One point per grid with ``label`` = "code name", for the search box."""
    features = []
    for g in grids:
        point = shape(g.display).representative_point()
        geometry = shift.geometry({"type": "Point", "coordinates": [point.x, point.y]})
        features.append(
            {
                "type": "Feature",
                "properties": {"label": f"{g.code} {g.name}"},
                "geometry": geometry,
            }
        )
    return escape_properties({"type": "FeatureCollection", "features": features})


def layer_sizes(session: Session, *, district_adcode: str) -> dict[str, int]:
    """How many current grids each layer of :data:`LAYERS` holds (one counting query), so a
    page can decide what to embed before loading any geometry."""
    rows = session.execute(
        select(Grid.kind, Grid.level, func.count())
        .join(GridVersion, GridVersion.grid_id == Grid.id)
        .where(
            Grid.district_adcode == district_adcode,
            Grid.retired_at.is_(None),
            GridVersion.valid_to.is_(None),
        )
        .group_by(Grid.kind, Grid.level)
    )
    sizes = {k: 0 for k, _, _, _ in LAYERS}
    for kind, level, n in rows:
        sizes["dedicated" if kind == "dedicated" else f"level{level}"] += n
    return sizes


def _bounds_geometry(session: Session, district_adcode: str) -> dict[str, Any]:
    west, south, east, north = district_bounds(session, district_adcode)
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def grids_map(
    session: Session,
    *,
    district_adcode: str,
    basemap: str = "blank",
    tianditu_key: str | None = None,
    embed_limit: int | None = None,
    tiles_prefix: str = "/tiles",
) -> folium.Map:
    """All current grids of a district with signboard popups (see the module docstring).

    ``embed_limit``: layers with more grids come from the vector tiles at ``tiles_prefix``
    (None, the default for exports and notebooks, embeds everything).
    """
    sizes = layer_sizes(session, district_adcode=district_adcode)
    tiled = {
        key for key, n in sizes.items() if embed_limit is not None and n > embed_limit and n > 0
    }
    levels = {int(k[-1]) for k in sizes if k.startswith("level") and k not in tiled}
    if "dedicated" not in tiled:
        levels |= {1, 2, 3}  # dedicated grids sit at any level
    if levels or not any(sizes.values()):
        # A district with no grid at all gets grid_signboards' message naming the fix.
        grids = grid_signboards(
            session, district_adcode=district_adcode, levels=tuple(sorted(levels)) or (1, 2, 3)
        )
    else:
        grids = []
    by_layer: dict[str, list[GridRecord]] = {}
    for g in grids:
        if _layer_key(g) not in tiled:
            by_layer.setdefault(_layer_key(g), []).append(g)
    grids = [g for records in by_layer.values() for g in records]
    shown = [g.display for g in by_layer.get("level1") or grids]
    page = district_map(
        session,
        district_adcode=district_adcode,
        shown=shown or [_bounds_geometry(session, district_adcode)],
        title="网格图 / grids",
        basemap=basemap,
        tianditu_key=tianditu_key,
    )
    labels = []
    for key, layer_name, min_zoom, style in LAYERS:
        if key in tiled:
            VectorTileLayer(
                f"grids-{key}",
                url=tile_url(f"grids-{key}", district_adcode=district_adcode, prefix=tiles_prefix),
                name=f"{layer_name} ({sizes[key]}, 矢量瓦片)",
                style=style,
                popup_fields=_TILE_POPUP,
                show=key != "level3",
            ).add_to(page.m)
            continue
        records = by_layer.get(key)
        if not records:
            continue
        layer = folium.GeoJson(
            page.collection(feature_collection(records)),
            name=f"{layer_name} ({len(records)})",
            style_function=lambda _, style=style: style,
            highlight_function=lambda _: {"weight": 3, "fillOpacity": 0.35},
            popup=folium.GeoJsonPopup(fields=_FIELDS, aliases=_ALIASES, localize=False),
            show=key != "level3",
            smooth_factor=0.5,
        )
        layer.add_to(page.m)
        labels.append({"key": key, "layer": layer.get_name(), "min_zoom": min_zoom})
    # leaflet-search puts its layer on the map: the index points are drawn invisible.
    index = folium.GeoJson(
        _search_index(grids, page.shift),
        name="search index",
        control=False,
        marker=folium.CircleMarker(
            radius=1, stroke=False, fill=False, class_name="gg-search-point"
        ),
    )
    index.add_to(page.m)
    Search(
        index,
        search_label="label",
        search_zoom=16,
        geom_type="Point",
        placeholder="网格编码或名称 / code or name",
        collapsed=False,
        position="topright",
    ).add_to(page.m)
    page.m.add_child(ZoomLabels(labels))
    counts = ", ".join(f"{n} {sizes[k]}" for k, n, _, _ in LAYERS)
    lines = [counts]
    if tiled:
        names = "、".join(n for k, n, _, _ in LAYERS if k in tiled)
        lines.append(f"{names} 按矢量瓦片显示 (tiles), 放大后出现; 搜索仅含其余图层")
        if page.shift.gcj02:
            lines.append("高德底图下矢量瓦片未纠偏 (WGS 84), 可能偏移数百米")
    return page.finish("网格", lines)
