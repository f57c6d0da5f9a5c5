"""Query parameters shared by ``/analysis/...`` and ``/maps/...``, one typed dependency per
family, so a map page and the numbers behind it take the same names, defaults and limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Depends, Query

from api.deps import SettingsDep
from geogrid.analysis.filters import IssueFilter

__all__ = [
    "Basemap",
    "District",
    "DistrictDep",
    "GapParams",
    "GapParamsDep",
    "GapTableParams",
    "GapTableParamsDep",
    "HotspotParams",
    "HotspotParamsDep",
    "HotspotTestParams",
    "HotspotTestParamsDep",
    "IssueFilterDep",
    "Level",
    "RateParams",
    "RateParamsDep",
    "district_adcode",
    "issue_filter",
]

District = Annotated[
    str | None, Query(description="District adcode (default: the one this server serves).")
]
Level = Annotated[int, Query(ge=1, le=3, description="Grid level.")]
Basemap = Annotated[
    Literal["blank", "osm", "tianditu", "amap"],
    Query(description="blank (offline), osm, tianditu (needs GEOGRID_TIANDITU_KEY), amap."),
]


async def district_adcode(settings: SettingsDep, district: District = None) -> str:
    """The district asked for, or the one this server serves. ``async``, as every dependency
    that does no I/O: FastAPI runs a plain ``def`` in its thread pool, a hop that costs more
    than the work (~0.15 ms on the development machine)."""
    return district or settings.district_adcode


DistrictDep = Annotated[str, Depends(district_adcode)]


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
    """Which issues to count; :class:`IssueFilter` itself rejects unknown statuses and empty
    periods, with the same messages for every caller."""
    return IssueFilter(start=start, end=end, category=category, statuses=tuple(status or ()))


IssueFilterDep = Annotated[IssueFilter, Depends(issue_filter)]


@dataclass(frozen=True)
class RateParams:
    """How the rates choropleth classes grids (:func:`geogrid.analysis.rates.grid_rates`)."""

    level: Level = 2
    scheme: Literal["quantiles", "natural_breaks", "fisher_jenks", "equal_interval"] = "quantiles"
    k: Annotated[int, Query(ge=2, le=9)] = 5


@dataclass(frozen=True)
class HotspotParams:
    """The Gi* inputs a hotspot map offers (:func:`geogrid.analysis.hotspots.grid_hotspots`)."""

    level: Level = 2
    value: Literal["count", "rate"] = "count"
    weights: Literal["queen", "distance"] = "queen"
    distance_m: Annotated[float | None, Query(gt=0)] = None
    fdr: bool = True


@dataclass(frozen=True)
class HotspotTestParams(HotspotParams):
    """The hotspot data also chooses how p-values are computed."""

    method: Literal["auto", "analytic", "permutation"] = "auto"
    # 9 999 permutations give p-values to 1e-4, all an FDR at 0.05 needs; more only cost
    # seconds of CPU and memory per request.
    permutations: Annotated[int, Query(ge=99, le=9_999)] = 9999


@dataclass(frozen=True)
class GapParams:
    """Thresholds of the coverage gaps (:func:`geogrid.analysis.gaps.coverage_gaps`)."""

    households_norm: Annotated[int, Query(gt=0, description="Households per worker.")] = 300
    inactive_days: Annotated[int, Query(gt=0, le=3650)] = 30


@dataclass(frozen=True)
class GapTableParams(GapParams):
    """The gap data also lets the caller drop larger slivers."""

    min_area_m2: Annotated[float, Query(ge=0)] = 1.0


RateParamsDep = Annotated[RateParams, Depends()]
HotspotParamsDep = Annotated[HotspotParams, Depends()]
HotspotTestParamsDep = Annotated[HotspotTestParams, Depends()]
GapParamsDep = Annotated[GapParams, Depends()]
GapTableParamsDep = Annotated[GapTableParams, Depends()]
