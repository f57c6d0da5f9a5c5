"""The hotspots planted in the demo's issues, so that analysis can be checked against them.

Each is a Gaussian cluster of extra issues (``count`` issues, standard deviation ``sigma_m``
metres) around ``centre`` (WGS84 lon, lat), on top of a background that follows population.
Hotspot analysis (Getis-Ord Gi*) on the demo must find the grids around every centre hot.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PLANTED_HOTSPOTS", "PlantedHotspot"]


@dataclass(frozen=True, slots=True)
class PlantedHotspot:
    key: str
    label: str
    centre: tuple[float, float]
    sigma_m: float
    count: int
    categories: tuple[str, ...]  # subcategory codes the cluster's issues are drawn from
    months: int = 12  # active over the last N months


PLANTED_HOTSPOTS: tuple[PlantedHotspot, ...] = (
    PlantedHotspot(
        "old_town_market",
        "华州街道老城农贸市场周边: 垃圾与占道经营",
        (109.7745, 34.5105),
        250.0,
        2600,
        ("1201", "0101", "0401", "0103"),
    ),
    PlantedHotspot(
        "xinglin_street",
        "杏林镇镇区: 乱停乱放与噪音扰民",
        (109.7180, 34.5215),
        300.0,
        1900,
        ("0402", "0403", "0401"),
    ),
    PlantedHotspot(
        "guapo_construction",
        "瓜坡镇安置房工地: 施工扰民与扬尘 (last 4 months)",
        (109.8300, 34.5050),
        350.0,
        1500,
        ("0301", "0302", "0303"),
        months=4,
    ),
    PlantedHotspot(
        "liuzhi_disputes",
        "柳枝镇: 邻里与土地纠纷",
        (109.8760, 34.5330),
        450.0,
        1200,
        ("1101", "1105", "1103"),
    ),
)
"""Four planted hotspots: 7 200 issues in all over a background of about 46 000."""
