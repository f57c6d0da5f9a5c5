"""The coverage-gaps map (``/maps/gaps``): one layer per kind of gap, a table and totals."""

from __future__ import annotations

import html
from datetime import datetime

import folium
from sqlalchemy.orm import Session

from geogrid.analysis.gaps import GAP_KINDS, GAP_LABELS, CoverageGaps, coverage_gaps
from geogrid.maps.basemaps import add_html
from geogrid.maps.layout import panel
from geogrid.maps.page import district_map, outline_grids

__all__ = ["GAP_COLOURS", "gaps_map", "gaps_table"]

GAP_COLOURS = {
    "uncovered": "#d7191c",
    "overlap": "#7b3294",
    "no_a_post": "#e66101",
    "no_b_post": "#fdb863",
    "a_away_no_b": "#b35806",
    "over_norm": "#5e3c99",
    "inactive": "#4d4d4d",
    "dedicated_unstaffed": "#008837",
    "misplaced_issue": "#000000",
}
TABLE_ROWS = 200


def gaps_table(gaps: CoverageGaps) -> folium.Element:
    """Totals per kind and the first rows, in a scrollable box that folds on a phone."""
    totals = gaps.totals()
    summary = "".join(
        f"<tr><td>{GAP_LABELS[k]}</td><td style='text-align:right'>{totals[k]}</td></tr>"
        for k in GAP_KINDS
    )
    detail = "".join(
        f"<tr><td>{GAP_LABELS[r.kind]}</td><td>{html.escape(r.code)}</td>"
        f"<td>{html.escape(r.name or '')}</td><td>{html.escape(r.detail)}</td></tr>"
        for r in gaps.rows[:TABLE_ROWS]
    )
    more = (
        f"<p>… 共 {len(gaps.rows)} 条, 完整列表见 /analysis/gaps</p>"
        if len(gaps.rows) > TABLE_ROWS
        else ""
    )
    body = (
        f"<table id='geogrid-gaps-totals'>{summary}"
        f"<tr><td>无覆盖面积 (m²)</td><td style='text-align:right'>"
        f"{totals['uncovered_area_m2']:,.1f}</td></tr></table>"
        f"<table id='geogrid-gaps-rows'><tr><th>类型</th><th>编码</th><th>名称</th>"
        f"<th>说明</th></tr>{detail}</table>{more}"
    )
    return panel(
        "geogrid-gaps-table", "覆盖缺口合计", body, corner="bottomleft", toggle_label="覆盖缺口合计"
    )


def gaps_map(
    session: Session,
    *,
    district_adcode: str,
    households_norm: int = 300,
    inactive_days: int = 30,
    basemap: str = "blank",
    tianditu_key: str | None = None,
    now: datetime | None = None,
) -> folium.Map:
    """Every coverage gap of the district, a layer per kind over the level-1 outlines."""
    gaps = coverage_gaps(
        session,
        district_adcode=district_adcode,
        households_norm=households_norm,
        inactive_days=inactive_days,
        now=now,
    )
    outline = outline_grids(session, district_adcode=district_adcode)
    page = district_map(
        session,
        district_adcode=district_adcode,
        shown=[g.display for g in outline] or [r.geometry for r in gaps.rows if r.geometry],
        title="覆盖缺口 / coverage gaps",
        basemap=basemap,
        tianditu_key=tianditu_key,
    )
    page.outline(outline, colour="#777", control=False)
    for kind in GAP_KINDS:
        rows = [r for r in gaps.by_kind(kind) if r.geometry]
        group = folium.FeatureGroup(
            name=f"{GAP_LABELS[kind]} ({len(gaps.by_kind(kind))})", show=kind != "inactive"
        )
        if rows:
            colour = GAP_COLOURS[kind]
            area_kind = kind in ("uncovered", "overlap")
            folium.GeoJson(
                page.collection(
                    {
                        "type": "FeatureCollection",
                        "features": [
                            {"type": "Feature", "properties": r.as_dict(), "geometry": r.geometry}
                            for r in rows
                        ],
                    }
                ),
                marker=folium.CircleMarker(radius=6),
                style_function=lambda _, c=colour, a=area_kind: {
                    "color": c,
                    "weight": 2 if a else 1.2,
                    "fillColor": c,
                    "fillOpacity": 0.6 if a else 0.3,
                },
                tooltip=folium.GeoJsonTooltip(
                    fields=["label", "code", "detail"], aliases=["类型", "编码", "说明"]
                ),
            ).add_to(group)
        group.add_to(page.m)
    add_html(page.m, gaps_table(gaps), "geogrid_gaps_table")
    lines = [f"户数标准 {households_norm} 户/人, 无活动 {inactive_days} 天"]
    return page.finish("覆盖缺口", lines)
