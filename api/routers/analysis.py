"""Routes for analysis: the numbers behind every map, as GeoJSON or JSON.

``/analysis/grids``     current grids with their signboards;
``/analysis/heatmap``   issue points, or weighted ~100 m cells past 50 000, and monthly frames;
``/analysis/rates``     issues per 1 000 households per grid, with class breaks;
``/analysis/hotspots``  Getis-Ord Gi* per grid: z, p, FDR-adjusted p, class;
``/analysis/gaps``      coverage gaps with totals;
``/analysis/summary``   dashboard numbers per grid and per street/town for a period.

(``/analysis/indicators`` lives in ``api/routers/indicators.py``.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from api.deps import SessionDep, SettingsDep
from geogrid.analysis.filters import IssueFilter
from geogrid.analysis.gaps import coverage_gaps
from geogrid.analysis.heatmap import heatmap_data
from geogrid.analysis.hotspots import grid_hotspots
from geogrid.analysis.layers import feature_collection
from geogrid.analysis.rates import grid_rates
from geogrid.analysis.signboards import grid_signboards
from geogrid.analysis.summary import issue_summary
from geogrid.settings import Settings

router = APIRouter(prefix="/analysis", tags=["analysis"])

GEOJSON = "application/geo+json"


def issue_filter(
    start: Annotated[datetime | None, Query(description="Issues reported from (ISO 8601).")] = None,
    end: Annotated[datetime | None, Query(description="Issues reported before (ISO 8601).")] = None,
    category: Annotated[
        str | None, Query(description="Category code; a class (2 digits) takes its subclasses.")
    ] = None,
    status: Annotated[
        list[str] | None, Query(description="Issue statuses (repeat the parameter).")
    ] = None,
) -> IssueFilter:
    return IssueFilter(start=start, end=end, category=category, statuses=tuple(status or ()))


IssueFilterDep = Annotated[IssueFilter, Depends(issue_filter)]
District = Annotated[
    str | None, Query(description="District adcode (default: the one this server serves).")
]
Level = Annotated[int, Query(ge=1, le=3, description="Grid level.")]


def district_of(settings: Settings, district: str | None) -> str:
    return district or settings.district_adcode


def geojson(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, media_type=GEOJSON)


@router.get("/grids", summary="Current grids with their signboards (GeoJSON)")
def grids(session: SessionDep, settings: SettingsDep, district: District = None) -> JSONResponse:
    records = grid_signboards(session, district_adcode=district_of(settings, district))
    return geojson(feature_collection(records))


@router.get("/heatmap", summary="Issue heat points or weighted cells, and monthly frames")
def heatmap(
    session: SessionDep,
    settings: SettingsDep,
    filters: IssueFilterDep,
    district: District = None,
    months: Annotated[int, Query(ge=1, le=36)] = 12,
) -> dict[str, Any]:
    data = heatmap_data(
        session,
        district_adcode=district_of(settings, district),
        issue_filter=filters,
        months=months,
    )
    return data.as_json()


@router.get("/rates", summary="Issues per 1 000 households per grid (GeoJSON)")
def rates(
    session: SessionDep,
    settings: SettingsDep,
    filters: IssueFilterDep,
    district: District = None,
    level: Level = 2,
    scheme: Literal["quantiles", "natural_breaks", "fisher_jenks", "equal_interval"] = "quantiles",
    k: Annotated[int, Query(ge=2, le=9)] = 5,
) -> JSONResponse:
    result = grid_rates(
        session,
        district_adcode=district_of(settings, district),
        level=level,
        scheme=scheme,
        k=k,
        issue_filter=filters,
    )
    return geojson(result.geojson())


@router.get("/hotspots", summary="Getis-Ord Gi* hot and cold grids (GeoJSON)")
def hotspots(
    session: SessionDep,
    settings: SettingsDep,
    filters: IssueFilterDep,
    district: District = None,
    level: Level = 2,
    value: Literal["count", "rate"] = "count",
    weights: Literal["queen", "distance"] = "queen",
    distance_m: Annotated[float | None, Query(gt=0)] = None,
    method: Literal["auto", "analytic", "permutation"] = "auto",
    permutations: Annotated[int, Query(ge=99, le=99_999)] = 9999,
    fdr: bool = True,
) -> JSONResponse:
    result = grid_hotspots(
        session,
        district_adcode=district_of(settings, district),
        level=level,
        value=value,
        weights=weights,
        distance_m=distance_m,
        method=method,
        permutations=permutations,
        fdr=fdr,
        issue_filter=filters,
    )
    return geojson(result.geojson())


@router.get("/gaps", summary="Coverage gaps: territory, overlaps, posts, workload, activity")
def gaps(
    session: SessionDep,
    settings: SettingsDep,
    district: District = None,
    households_norm: Annotated[int, Query(gt=0, description="Households per worker.")] = 300,
    inactive_days: Annotated[int, Query(gt=0, le=3650)] = 30,
    min_area_m2: Annotated[float, Query(ge=0)] = 1.0,
) -> JSONResponse:
    result = coverage_gaps(
        session,
        district_adcode=district_of(settings, district),
        households_norm=households_norm,
        inactive_days=inactive_days,
        min_area_m2=min_area_m2,
    )
    return geojson(result.as_json())


@router.get("/summary", summary="Dashboard numbers per grid and per street/town")
def summary(
    session: SessionDep,
    settings: SettingsDep,
    district: District = None,
    start: datetime | None = None,
    end: datetime | None = None,
    level: Level = 2,
) -> dict[str, Any]:
    return issue_summary(
        session,
        district_adcode=district_of(settings, district),
        start=start,
        end=end,
        level=level,
    )
