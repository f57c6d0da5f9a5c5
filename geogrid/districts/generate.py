"""A generated district below any real boundary, scaled to its area.

The Huazhou demo knows its real towns; other districts do not, so their streets and towns are
generated too: as many as the district's area suggests (Huazhou: 10 over ~1 300 km²), seats
spread over the territory by Lloyd relaxation, names drawn from the demo's pools and marked
generated wherever they are stored. A small district (under ~200 km², an urban 区 such as
Qingyunpu) is all streets and communities; a large one has one street per five towns and
mostly villages. Everything is deterministic from the seed; ``scale`` shrinks the number of
grids and issues (tests use 0.05, a province-wide benchmark may use less than 1).
"""

from __future__ import annotations

import math

import numpy as np
from pyproj import Geod
from shapely.geometry import MultiPolygon

from geogrid.addresses.normalize import prefix_forms
from geogrid.demo import names
from geogrid.demo.generate import DistrictSpec
from geogrid.districts.catalog import Division
from geogrid.errors import InvalidInputError
from geogrid.spatial.partition import lloyd_relax, random_points_in

__all__ = ["URBAN_KM2", "area_km2", "district_spec"]

#: Below this area a district is taken as urban: streets and communities only.
URBAN_KM2 = 200.0
#: Huazhou's issues per km² over a year (46 000 background issues over ~1 300 km²).
ISSUES_PER_KM2 = 35.0
_GEOD = Geod(ellps="WGS84")


def area_km2(geom: MultiPolygon) -> float:
    """Area on the ellipsoid, in km²."""
    return abs(_GEOD.geometry_area_perimeter(geom)[0]) / 1e6


def _clamp(value: float, low: int, high: int) -> int:
    return int(min(max(round(value), low), high))


def _unique(pool: list[str], n: int, rng: np.random.Generator, suffix: str) -> list[str]:
    picks = rng.permutation(len(pool))
    out = [pool[int(i)] + suffix for i in picks[:n]]
    k = 1
    while len(out) < n:  # more towns than roots: number the rest
        out.append(f"{pool[int(picks[k % len(pool)])]}{k}{suffix}")
        k += 1
    return out


def district_spec(
    division: Division, boundary: MultiPolygon, *, seed: int, scale: float = 1.0
) -> DistrictSpec:
    """How to generate ``division``: its towns (generated seats and names) and counts.

    >>> from shapely.geometry import box
    >>> from geogrid.spatial.partition import as_multipolygon
    >>> d = Division("360104", "青云谱区", "南昌市", "江西省")
    >>> spec = district_spec(d, as_multipolygon(box(115.88, 28.59, 115.95, 28.66)), seed=1)
    >>> all(t.is_street for t in spec.towns), spec.address_prefix
    (True, '江西省南昌市青云谱区')
    """
    if not (0 < scale <= 1):
        raise InvalidInputError(
            f"scale {scale} is outside (0, 1]: 1 generates a full district, 0.05 a sketch.",
            scale=scale,
        )
    rng = np.random.default_rng(seed)
    km2 = area_km2(boundary)
    urban = km2 < URBAN_KM2
    n_towns = _clamp(km2 / 10, 2, 12) if urban else _clamp(km2 / 130, 2, 30)
    n_streets = n_towns if urban else max(1, round(n_towns * 0.2))
    seats, _ = lloyd_relax(boundary, random_points_in(boundary, n_towns, rng), 2)
    # The street(s) at the seats nearest the centre of mass, as a county seat usually is.
    centre = boundary.centroid
    by_centrality = np.argsort(np.hypot(seats[:, 0] - centre.x, seats[:, 1] - centre.y))
    street_names = _unique(list(names.COMMUNITY_ROOTS), n_streets, rng, "街道")
    town_names = _unique(
        sorted({r[:2] for r in names.VILLAGE_ROOTS}), n_towns - n_streets, rng, "镇"
    )
    per_town_km2 = km2 / n_towns
    towns: list[names.TownSeed] = []
    for rank, i in enumerate(by_centrality):
        is_street = rank < n_streets
        density = 1.0 if is_street else 0.12  # level-1 grids per km²
        n_l1 = max(2, round(_clamp(per_town_km2 * density, 3, 40) * scale))
        communities = max(1, (2 * n_l1) // 3) if is_street else max(1, n_l1 // 6)
        towns.append(
            names.TownSeed(
                street_names[rank] if is_street else town_names[rank - n_streets],
                is_street,
                (float(seats[i, 0]), float(seats[i, 1])),
                communities,
                n_l1 - communities,
                1.0 if is_street else 0.4,
            )
        )
    n_l1_total = sum(t.communities + t.villages for t in towns)
    return DistrictSpec(
        adcode=division.adcode,
        name=division.name,
        address_prefix=division.address_prefix,
        towns=tuple(towns),
        level3_parents=round(18 * n_l1_total / 159),
        dedicated=max(1, round(1.5 * n_l1_total)),
        background_issues=max(50, math.ceil(ISSUES_PER_KM2 * max(km2, 100.0) * scale)),
        staff=None,
        hotspots=(),
        grid_scale=scale,
        prefixes=prefix_forms((division.province, division.city, division.name)),
        phone_area="0000",
        change_reason=f"{division.name}网格划分 (generated demo)",
    )
