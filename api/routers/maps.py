"""Map pages (``/maps/...``): each renders a function of :mod:`geogrid.maps` with its assets
served from ``/static``, so pages work with no internet. ``basemap=`` picks the background:
``blank`` (default, offline), ``osm``, ``tianditu`` (needs ``GEOGRID_TIANDITU_KEY``) or
``amap`` (vector layers shifted to GCJ-02). The numbers are at the matching ``/analysis/...``.
"""

from __future__ import annotations

import html
import logging
from typing import Annotated, Literal

import folium
from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from api.deps import SessionDep, SettingsDep
from api.routers.analysis import District, IssueFilterDep, Level, district_of
from geogrid.maps.assets import MissingAssetsError, check_assets, render_html
from geogrid.maps.gaps_map import gaps_map
from geogrid.maps.grids_map import grids_map
from geogrid.maps.heatmap import issue_heatmap
from geogrid.maps.hotspots_map import hotspots_map
from geogrid.maps.rates import rates_map
from geogrid.settings import Settings

router = APIRouter(prefix="/maps", tags=["maps"])
logger = logging.getLogger("geogrid.api")

Basemap = Annotated[
    Literal["blank", "osm", "tianditu", "amap"],
    Query(description="blank (offline), osm, tianditu (needs GEOGRID_TIANDITU_KEY), amap."),
]


def _page(settings: Settings, m: folium.Map) -> HTMLResponse:
    return HTMLResponse(render_html(m))


def _assets_or_notice(settings: Settings) -> HTMLResponse | None:
    try:
        check_assets(settings)
    except MissingAssetsError as exc:
        logger.error("%s", exc)
        message = html.escape(
            f"缺少 npm 包 (missing npm packages): {', '.join(exc.packages)}; run npm ci"
        )
        return HTMLResponse(
            f"<!DOCTYPE html><meta charset='utf-8'><p>{message}</p>", status_code=503
        )
    return None


@router.get("/grids", response_class=HTMLResponse, summary="Grids by level with signboards")
def grids_page(
    session: SessionDep,
    settings: SettingsDep,
    district: District = None,
    basemap: Basemap = "blank",
) -> HTMLResponse:
    if notice := _assets_or_notice(settings):
        return notice
    return _page(
        settings,
        grids_map(session, district_adcode=district_of(settings, district), basemap=basemap),
    )


@router.get("/heatmap", response_class=HTMLResponse, summary="Issue heatmap with monthly animation")
def heatmap_page(
    session: SessionDep,
    settings: SettingsDep,
    filters: IssueFilterDep,
    district: District = None,
    basemap: Basemap = "blank",
) -> HTMLResponse:
    if notice := _assets_or_notice(settings):
        return notice
    m = issue_heatmap(
        session,
        district_adcode=district_of(settings, district),
        issue_filter=filters,
        basemap=basemap,
    )
    return _page(settings, m)


@router.get(
    "/rates", response_class=HTMLResponse, summary="Choropleth of issues per 1 000 households"
)
def rates_page(
    session: SessionDep,
    settings: SettingsDep,
    filters: IssueFilterDep,
    district: District = None,
    level: Level = 2,
    scheme: Literal["quantiles", "natural_breaks", "fisher_jenks", "equal_interval"] = "quantiles",
    k: Annotated[int, Query(ge=2, le=9)] = 5,
    basemap: Basemap = "blank",
) -> HTMLResponse:
    if notice := _assets_or_notice(settings):
        return notice
    m = rates_map(
        session,
        district_adcode=district_of(settings, district),
        level=level,
        scheme=scheme,
        k=k,
        issue_filter=filters,
        basemap=basemap,
    )
    return _page(settings, m)


@router.get("/hotspots", response_class=HTMLResponse, summary="Getis-Ord Gi* hotspots")
def hotspots_page(
    session: SessionDep,
    settings: SettingsDep,
    filters: IssueFilterDep,
    district: District = None,
    level: Level = 2,
    value: Literal["count", "rate"] = "count",
    weights: Literal["queen", "distance"] = "queen",
    distance_m: Annotated[float | None, Query(gt=0)] = None,
    fdr: bool = True,
    basemap: Basemap = "blank",
) -> HTMLResponse:
    if notice := _assets_or_notice(settings):
        return notice
    m = hotspots_map(
        session,
        district_adcode=district_of(settings, district),
        level=level,
        value=value,
        weights=weights,
        distance_m=distance_m,
        fdr=fdr,
        issue_filter=filters,
        basemap=basemap,
    )
    return _page(settings, m)


@router.get("/gaps", response_class=HTMLResponse, summary="Coverage gaps, a layer per kind")
def gaps_page(
    session: SessionDep,
    settings: SettingsDep,
    district: District = None,
    households_norm: Annotated[int, Query(gt=0)] = 300,
    inactive_days: Annotated[int, Query(gt=0, le=3650)] = 30,
    basemap: Basemap = "blank",
) -> HTMLResponse:
    if notice := _assets_or_notice(settings):
        return notice
    m = gaps_map(
        session,
        district_adcode=district_of(settings, district),
        households_norm=households_norm,
        inactive_days=inactive_days,
        basemap=basemap,
    )
    return _page(settings, m)
