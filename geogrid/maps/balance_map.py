"""The balance map (``/maps/balance``): each grid filled by its households per grid worker
against the norm band, today's grids and, as a second layer, the grids of the latest draft
proposals (after), so an officer sees where a draft evens the load. Numbers at
``/analysis/balance`` (:mod:`geogrid.analysis.balance`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import folium
from sqlalchemy.orm import Session

from geogrid.analysis.balance import BalanceGrid, grid_balance
from geogrid.analysis.gaps import DEFAULT_HOUSEHOLDS_NORM
from geogrid.grids.proposals import DEFAULT_BAND
from geogrid.maps.basemaps import add_html
from geogrid.maps.choropleth import choropleth_layer, swatch_legend
from geogrid.maps.page import district_map

__all__ = ["BAND_COLOURS", "balance_map", "band_class"]

#: Under the band, within it, over it, far over it (over twice the norm).
BAND_COLOURS = ["#9ecae1", "#a1d99b", "#fdae6b", "#d94801"]


def band_class(per_worker: float, norm: int, band: float) -> int:
    """The legend class of a households-per-worker figure: 0 under the band, 1 within it,
    2 over it, 3 over twice the norm."""
    if per_worker < norm * (1 - band):
        return 0
    if per_worker <= norm * (1 + band):
        return 1
    return 2 if per_worker <= 2 * norm else 3


def _collection(grids: Sequence[BalanceGrid], norm: int, band: float) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": g.geometry,
                "properties": {
                    **g.as_json(),
                    "code": g.code or "(新)",
                    "class": band_class(g.per_worker, norm, band),
                },
            }
            for g in grids
            if g.geometry
        ],
    }


def balance_map(
    session: Session,
    *,
    district_adcode: str,
    basemap: str = "blank",
    tianditu_key: str | None = None,
    level: int = 2,
    households_norm: int = DEFAULT_HOUSEHOLDS_NORM,
    band: float = DEFAULT_BAND,
) -> folium.Map:
    """Households per grid worker of the grids of ``level``, before and after the drafts."""
    balance = grid_balance(
        session,
        district_adcode=district_adcode,
        level=level,
        households_norm=households_norm,
        band=band,
        geometry=True,
    )
    shown = [g.geometry for g in balance.before if g.geometry]
    page = district_map(
        session,
        district_adcode=district_adcode,
        shown=shown,
        title="网格均衡 / grid balance",
        basemap=basemap,
        tianditu_key=tianditu_key,
    )

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        fill = BAND_COLOURS[feature["properties"]["class"]]
        return {"color": "#555", "weight": 0.5, "fillColor": fill, "fillOpacity": 0.75}

    tooltip = [
        ("code", "编码"),
        ("community", "社区"),
        ("households", "户数"),
        ("workers", "网格员"),
        ("households_per_worker", "户/人"),
    ]
    choropleth_layer(
        page,
        _collection(balance.before, households_norm, band),
        name=f"现状 (before) {level}级网格",
        style=style,
        tooltip=tooltip,
    )
    if balance.district.proposals:
        choropleth_layer(
            page,
            _collection(
                [g for g in balance.after if g.proposal_id is not None], households_norm, band
            ),
            name="方案 (after, drafts)",
            style=lambda f: {**style(f), "dashArray": "4 3", "color": "#222"},
            tooltip=[*tooltip, ("proposal_id", "方案")],
        )
    low, high = households_norm * (1 - band), households_norm * (1 + band)
    labels = [
        f"< {low:.0f} 户/人",
        f"{low:.0f}–{high:.0f} 户/人 (标准带)",
        f"{high:.0f}–{2 * households_norm} 户/人",
        f"> {2 * households_norm} 户/人",
    ]
    legend = swatch_legend("户数/网格员", list(zip(BAND_COLOURS, labels, strict=True)))
    add_html(page.m, legend, "geogrid_legend")
    d = balance.district
    lines = [
        f"现状 before: Gini {d.before['gini']}, 标准带内 {d.before['share_in_band']}",
        f"方案 after ({len(d.proposals)} drafts): Gini {d.after['gini']}, "
        f"标准带内 {d.after['share_in_band']}",
    ]
    return page.finish("网格均衡", lines)
