"""Routes for analysis: the numbers behind every map, as GeoJSON or JSON.

``/analysis/grids``     current grids with their signboards;
``/analysis/heatmap``   issue points, or weighted ~100 m cells past 50 000, and monthly frames;
``/analysis/rates``     issues per 1 000 households per grid, with class breaks;
``/analysis/hotspots``  Getis-Ord Gi* per grid: z, p, FDR-adjusted p, class;
``/analysis/gaps``      coverage gaps with totals;
``/analysis/summary``   dashboard numbers per grid and per street/town for a period;
``/analysis/balance``   households per grid worker before and after the draft proposals, Gini
                        and the share within the norm band, per community and per street.

Every answer carries an ETag and honours ``If-None-Match`` (:mod:`api.caching`).
(``/analysis/indicators`` lives in ``api/routers/indicators.py``.) The query parameters are
the dependencies of :mod:`api.routers.analysis_params`, shared with the map pages.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse

from api.caching import AnswersDep
from api.deps import SessionDep
from api.limits import heavy_analysis
from api.responses import GeoJSONResponse
from api.routers.analysis_params import (
    DistrictDep,
    GapTableParamsDep,
    HotspotTestParamsDep,
    IssueFilterDep,
    Level,
    RateParamsDep,
)
from geogrid.analysis.balance import drafts_mark, grid_balance
from geogrid.analysis.gaps import DEFAULT_HOUSEHOLDS_NORM, coverage_gaps
from geogrid.analysis.heatmap import heatmap_data
from geogrid.analysis.hotspots import grid_hotspots
from geogrid.analysis.layers import feature_collection
from geogrid.analysis.rates import grid_rates
from geogrid.analysis.signboards import grid_signboards
from geogrid.analysis.summary import issue_summary
from geogrid.grids.proposals import DEFAULT_BAND

router = APIRouter(prefix="/analysis", tags=["analysis"])


def geojson(body: dict[str, Any]) -> JSONResponse:
    return GeoJSONResponse(body)


@router.get(
    "/grids",
    response_class=GeoJSONResponse,
    summary="Current grids with their signboards (GeoJSON)",
)
def grids(session: SessionDep, district: DistrictDep, answers: AnswersDep) -> Response:
    return answers.respond(
        lambda: geojson(
            feature_collection(grid_signboards(session, district_adcode=district, now=answers.now))
        ),
        issues=False,
    )


@router.get("/heatmap", summary="Issue heat points or weighted cells, and monthly frames")
def heatmap(
    session: SessionDep,
    district: DistrictDep,
    filters: IssueFilterDep,
    answers: AnswersDep,
    months: Annotated[int, Query(ge=1, le=36)] = 12,
) -> Response:
    def render() -> Response:
        data = heatmap_data(
            session,
            district_adcode=district,
            issue_filter=filters,
            months=months,
            now=answers.now,
        )
        return JSONResponse(data.as_json())

    return answers.respond(render)


@router.get(
    "/rates",
    response_class=GeoJSONResponse,
    summary="Issues per 1 000 households per grid (GeoJSON)",
)
def rates(
    session: SessionDep,
    district: DistrictDep,
    filters: IssueFilterDep,
    params: RateParamsDep,
    answers: AnswersDep,
) -> Response:
    return answers.respond(
        lambda: geojson(
            grid_rates(
                session, district_adcode=district, issue_filter=filters, **asdict(params)
            ).geojson()
        )
    )


@router.get(
    "/hotspots",
    response_class=GeoJSONResponse,
    summary="Getis-Ord Gi* hot and cold grids (GeoJSON)",
    dependencies=[Depends(heavy_analysis)],
)
def hotspots(
    session: SessionDep,
    district: DistrictDep,
    filters: IssueFilterDep,
    params: HotspotTestParamsDep,
    answers: AnswersDep,
) -> Response:
    return answers.respond(
        lambda: geojson(
            grid_hotspots(
                session, district_adcode=district, issue_filter=filters, **asdict(params)
            ).geojson()
        )
    )


@router.get(
    "/gaps",
    response_class=GeoJSONResponse,
    summary="Coverage gaps: territory, overlaps, posts, workload, activity",
    dependencies=[Depends(heavy_analysis)],
)
def gaps(
    session: SessionDep, district: DistrictDep, params: GapTableParamsDep, answers: AnswersDep
) -> Response:
    return answers.respond(
        lambda: geojson(
            coverage_gaps(
                session, district_adcode=district, now=answers.now, **asdict(params)
            ).as_json()
        ),
        window_days=params.inactive_days,
    )


@router.get(
    "/summary",
    summary="Dashboard numbers per grid and per street/town (a city or province: per district)",
    description=(
        "Issues opened, closed and overdue, the median hours to close and the satisfaction "
        "rate over a period (default: the 30 days up to now). For a district: per grid of "
        "`level` and per street/town. For a city (`district=6105`) or a province "
        "(`district=61`): per district of this installation in it."
    ),
)
def summary(
    session: SessionDep,
    district: DistrictDep,
    answers: AnswersDep,
    start: datetime | None = None,
    end: datetime | None = None,
    level: Level = 2,
) -> Response:
    return answers.respond(
        lambda: JSONResponse(
            issue_summary(
                session,
                district_adcode=district,
                start=start,
                end=end,
                level=level,
                now=answers.now,
            )
        ),
        # A period that ends now (or later) moves with the clock: overdue is judged at now.
        exact_time=end is None or end > answers.now,
    )


@router.get(
    "/balance",
    summary="Households per grid worker before and after the drafts, per community and street",
)
def balance(
    session: SessionDep,
    district: DistrictDep,
    answers: AnswersDep,
    level: Annotated[int, Query(ge=2, le=3, description="Grid level (2 or 3).")] = 2,
    households_norm: Annotated[int, Query(gt=0)] = DEFAULT_HOUSEHOLDS_NORM,
    band: Annotated[float, Query(gt=0, lt=1)] = DEFAULT_BAND,
) -> Response:
    return answers.respond(
        lambda: JSONResponse(
            grid_balance(
                session,
                district_adcode=district,
                level=level,
                households_norm=households_norm,
                band=band,
            ).as_json()
        ),
        extra=drafts_mark(session, district_adcode=district),
    )
