"""Map pages (``/maps/...``): each renders a function of :mod:`geogrid.maps` with its assets
served from ``/static``, so pages work with no internet. ``basemap=`` picks the background:
``blank`` (default, offline), ``osm``, ``tianditu`` (needs ``GEOGRID_TIANDITU_KEY``) or
``amap`` (vector layers shifted to GCJ-02). The numbers are at the matching ``/analysis/...``,
which takes the same parameters (:mod:`api.routers.analysis_params`).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any

import folium
from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from api.caching import AnswersDep
from api.deps import SessionDep, SettingsDep
from api.limits import heavy_analysis
from api.routers.analysis_params import (
    Basemap,
    DistrictDep,
    GapParamsDep,
    HotspotParamsDep,
    IssueFilterDep,
    RateParamsDep,
)
from geogrid.analysis.balance import drafts_mark
from geogrid.analysis.gaps import DEFAULT_HOUSEHOLDS_NORM
from geogrid.errors import InvalidInputError
from geogrid.grids.proposals import DEFAULT_BAND
from geogrid.maps.assets import MissingAssetsError, check_assets, render_html
from geogrid.maps.balance_map import balance_map
from geogrid.maps.basemaps import display_crs
from geogrid.maps.frame import deferred_data, split_page
from geogrid.maps.gaps_map import gaps_map
from geogrid.maps.grids_map import grids_map
from geogrid.maps.heatmap import issue_heatmap
from geogrid.maps.hotspots_map import hotspots_map
from geogrid.maps.rates import rates_map

router = APIRouter(prefix="/maps", tags=["maps"])
# The layers each page fetches after its frame (same parameters as the page).
data_router = APIRouter(prefix="/analysis/layers", tags=["analysis"])
logger = logging.getLogger("geogrid.api")


class MapPage:
    """What every map page takes (session, district, basemap), and how it is answered."""

    def __init__(
        self,
        session: SessionDep,
        settings: SettingsDep,
        district: DistrictDep,
        answers: AnswersDep,
        basemap: Basemap = "blank",
    ) -> None:
        self.answers = answers
        self.session = session
        self.settings = settings
        self.district = district
        self.basemap = basemap

    def render(
        self,
        draw: Callable[..., folium.Map],
        *,
        window_days: int = 30,
        extra: str = "",
        issues: bool = True,
        **options: Any,
    ) -> Response:
        """The page of ``draw`` (a :mod:`geogrid.maps` function) for this district, or a 503
        notice when the npm assets are missing: checked first, so a broken install says so
        whatever the parameters. The page carries an ETag (:mod:`api.caching`): a repeated
        request is a 304 or the kept page, drawn again only when its data changed."""
        try:
            check_assets(self.settings)
        except MissingAssetsError as exc:
            logger.error("%s", exc)
            message = html.escape(
                f"缺少 npm 包 (missing npm packages): {', '.join(exc.packages)}; run npm ci"
            )
            return HTMLResponse(
                f"<!DOCTYPE html><meta charset='utf-8'><p>{message}</p>", status_code=503
            )

        request = self.answers.request
        name = request.url.path.rsplit("/", 1)[-1]
        layers_path = f"/analysis/layers/{name}"
        query = request.url.query
        # relative to /maps/<name>: the app may sit under a prefix
        data_url = f"../analysis/layers/{name}" + (f"?{query}" if query else "")

        def page() -> Response:
            m = draw(self.session, district_adcode=self.district, basemap=self.basemap, **options)
            frame, layers = split_page(render_html(m), data_url, deferred_data(m))
            # The page's own fetch will ask for these next: keep them under that request's
            # ETag, so the map is drawn once for both.
            self.answers.keep(
                layers_path,
                "application/json",
                layers.encode(),
                window_days=window_days,
                extra=extra,
                issues=issues,
            )
            return HTMLResponse(frame)

        return self.answers.respond(page, window_days=window_days, extra=extra, issues=issues)

    def layers(
        self,
        draw: Callable[..., folium.Map],
        *,
        window_days: int = 30,
        extra: str = "",
        issues: bool = True,
        **options: Any,
    ) -> Response:
        """The GeoJSON layers the page of ``draw`` fetches, as a JSON array in the order the
        page adds them (:func:`geogrid.maps.frame.split_page`)."""

        def data() -> Response:
            m = draw(self.session, district_adcode=self.district, basemap=self.basemap, **options)
            _, layers = split_page(render_html(m), "", deferred_data(m))
            return Response(layers.encode(), media_type="application/json")

        return self.answers.respond(data, window_days=window_days, extra=extra, issues=issues)


async def map_page(
    session: SessionDep,
    settings: SettingsDep,
    district: DistrictDep,
    answers: AnswersDep,
    basemap: Basemap = "blank",
) -> MapPage:
    """The :class:`MapPage` of the request, built by a coroutine: FastAPI builds a class
    dependency in its thread pool, a hop that costs more than the constructor."""
    return MapPage(session, settings, district, answers, basemap)


MapPageDep = Annotated[MapPage, Depends(map_page)]


@router.get("/grids", response_class=HTMLResponse, summary="Grids by level with signboards")
def grids_page(page: MapPageDep) -> Response:
    # the grids and their signboards read no issue: a new issue keeps the page
    return page.render(grids_map, issues=False, embed_limit=page.settings.tiles_embed_limit)


@router.get("/heatmap", response_class=HTMLResponse, summary="Issue heatmap with monthly animation")
def heatmap_page(page: MapPageDep, filters: IssueFilterDep) -> Response:
    return page.render(
        issue_heatmap,
        issue_filter=filters,
        embed_limit=page.settings.tiles_embed_issue_limit,
        defer_points=True,
    )


@router.get(
    "/rates", response_class=HTMLResponse, summary="Choropleth of issues per 1 000 households"
)
def rates_page(page: MapPageDep, filters: IssueFilterDep, params: RateParamsDep) -> Response:
    return page.render(rates_map, issue_filter=filters, **asdict(params))


@router.get(
    "/hotspots",
    response_class=HTMLResponse,
    summary="Getis-Ord Gi* hotspots",
    dependencies=[Depends(heavy_analysis)],
)
def hotspots_page(page: MapPageDep, filters: IssueFilterDep, params: HotspotParamsDep) -> Response:
    return page.render(hotspots_map, issue_filter=filters, **asdict(params))


@router.get(
    "/gaps",
    response_class=HTMLResponse,
    summary="Coverage gaps, a layer per kind",
    dependencies=[Depends(heavy_analysis)],
)
def gaps_page(page: MapPageDep, params: GapParamsDep) -> Response:
    return page.render(
        gaps_map, window_days=params.inactive_days, now=page.answers.now, **asdict(params)
    )


@router.get(
    "/balance",
    response_class=HTMLResponse,
    summary="Households per grid worker against the norm band, before and after the drafts",
)
def balance_page(
    page: MapPageDep,
    level: Annotated[int, Query(ge=2, le=3, description="Grid level (2 or 3).")] = 2,
    households_norm: Annotated[int, Query(gt=0)] = DEFAULT_HOUSEHOLDS_NORM,
    band: Annotated[float, Query(gt=0, lt=1)] = DEFAULT_BAND,
) -> Response:
    return page.render(
        balance_map,
        extra=drafts_mark(page.session, district_adcode=page.district),
        level=level,
        households_norm=households_norm,
        band=band,
    )


# -- the layers the pages fetch --------------------------------------------------------------


@data_router.get("/grids", summary="The layers of /maps/grids (JSON array)")
def grids_layers(page: MapPageDep) -> Response:
    return page.layers(grids_map, issues=False, embed_limit=page.settings.tiles_embed_limit)


@data_router.get("/heatmap", summary="The layers of /maps/heatmap (JSON array)")
def heatmap_layers(page: MapPageDep, filters: IssueFilterDep) -> Response:
    return page.layers(
        issue_heatmap,
        issue_filter=filters,
        embed_limit=page.settings.tiles_embed_issue_limit,
        defer_points=True,
    )


@data_router.get("/rates", summary="The layers of /maps/rates (JSON array)")
def rates_layers(page: MapPageDep, filters: IssueFilterDep, params: RateParamsDep) -> Response:
    return page.layers(rates_map, issue_filter=filters, **asdict(params))


@data_router.get(
    "/hotspots",
    summary="The layers of /maps/hotspots (JSON array)",
    dependencies=[Depends(heavy_analysis)],
)
def hotspots_layers(
    page: MapPageDep, filters: IssueFilterDep, params: HotspotParamsDep
) -> Response:
    return page.layers(hotspots_map, issue_filter=filters, **asdict(params))


@data_router.get(
    "/gaps",
    summary="The layers of /maps/gaps (JSON array)",
    dependencies=[Depends(heavy_analysis)],
)
def gaps_layers(page: MapPageDep, params: GapParamsDep) -> Response:
    return page.layers(
        gaps_map, window_days=params.inactive_days, now=page.answers.now, **asdict(params)
    )


@data_router.get("/balance", summary="The layers of /maps/balance (JSON array)")
def balance_layers(
    page: MapPageDep,
    level: Annotated[int, Query(ge=2, le=3, description="Grid level (2 or 3).")] = 2,
    households_norm: Annotated[int, Query(gt=0)] = DEFAULT_HOUSEHOLDS_NORM,
    band: Annotated[float, Query(gt=0, lt=1)] = DEFAULT_BAND,
) -> Response:
    return page.layers(
        balance_map,
        extra=drafts_mark(page.session, district_adcode=page.district),
        level=level,
        households_norm=households_norm,
        band=band,
    )


class ShiftRequest(BaseModel):
    """GeoJSON in WGS 84 to be drawn on a basemap: a geometry, a Feature or a
    FeatureCollection; the body is capped while it is read, like every JSON body
    (:mod:`api.limits`)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="a GeoJSON type")


@router.post("/shift", summary="GeoJSON in the coordinates of a basemap (GCJ-02 for amap)")
def shift_geojson(body: ShiftRequest, basemap: Basemap = "blank") -> dict[str, Any]:
    """What a page's own Leaflet map draws over ``basemap``: the same GeoJSON, shifted by the
    maps' one rule (:class:`geogrid.maps.basemaps.DisplayCRS`), so the people pages never
    carry a second copy of the GCJ-02 formula. Unchanged for the WGS 84 basemaps."""
    data = body.model_dump()
    shift = display_crs(basemap)
    try:
        if data["type"] == "FeatureCollection":
            return {
                **data,
                "features": [
                    {**f, "geometry": shift.geometry(f["geometry"])}
                    for f in data.get("features") or []
                ],
            }
        if data["type"] == "Feature":
            return {**data, "geometry": shift.geometry(data["geometry"])}
        return shift.geometry(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInputError(
            f"This is not GeoJSON that can be drawn ({exc.__class__.__name__}): send a "
            "geometry, a Feature or a FeatureCollection with lon/lat coordinates.",
            field="body",
        ) from exc
