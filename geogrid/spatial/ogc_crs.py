"""The coordinate reference systems OGC API – Features Part 2 offers, and conversions from and
to CRS84 (what geogrid stores) with pyproj.

Grids are stored in WGS 84 longitude/latitude, which Part 2 names CRS84. A province's GIS users
also ask for EPSG:4490 (CGCS2000, the national datum) and EPSG:3857 (Web Mercator, what web maps
draw). Each CRS is named by its OGC URI and its coordinates follow that CRS's own axis order, as
Part 2 requires: EPSG:4490 is latitude first, CRS84 and EPSG:3857 are x (east) first. pyproj's
transformers are built without ``always_xy`` for exactly that reason.

CGCS2000 and WGS 84 agree to a few centimetres in China (the note in
:mod:`geogrid.spatial.crs`): pyproj's ballpark transformation between them is the identity
apart from the axis swap, which is the part clients get wrong.
"""

from __future__ import annotations

from functools import cache
from typing import Final

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from geogrid.errors import InvalidInputError

__all__ = [
    "CRS84",
    "EPSG_3857",
    "EPSG_4490",
    "SUPPORTED",
    "bbox_to_crs84",
    "geometry_from_crs84",
    "geometry_to_crs84",
    "parse_crs",
]

CRS84: Final = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_4490: Final = "http://www.opengis.net/def/crs/EPSG/0/4490"
EPSG_3857: Final = "http://www.opengis.net/def/crs/EPSG/0/3857"

#: The URIs offered, in the order the collections list them (the storage CRS first).
SUPPORTED: Final = (CRS84, EPSG_4490, EPSG_3857)

_PYPROJ: Final = {CRS84: "OGC:CRS84", EPSG_4490: "EPSG:4490", EPSG_3857: "EPSG:3857"}


def parse_crs(value: str | None, *, parameter: str) -> str:
    """The canonical URI of ``value`` (one of :data:`SUPPORTED`), CRS84 when absent.

    Part 2 names CRSs by URI; the ``[EPSG:4490]``-style safe CURIE is accepted as well
    because the specification allows it. Anything else is refused naming the allowed URIs.

    >>> parse_crs("[EPSG:3857]", parameter="crs")
    'http://www.opengis.net/def/crs/EPSG/0/3857'
    """
    if value is None or value == "":
        return CRS84
    key = value.strip()
    if key.startswith("[") and key.endswith("]"):
        key = key[1:-1]
    key = key.replace("https://", "http://")
    for uri in SUPPORTED:
        if key.lower() in (uri.lower(), _PYPROJ[uri].lower()):
            return uri
    raise InvalidInputError(
        f"{parameter}={value!r} is not offered; use one of {', '.join(SUPPORTED)}.",
        rule="crs",
        parameter=parameter,
        allowed=list(SUPPORTED),
    )


@cache
def _transformer(source: str, target: str) -> Transformer:
    return Transformer.from_crs(CRS.from_user_input(source), CRS.from_user_input(target))


def _apply(geometry: BaseGeometry, transformer: Transformer) -> BaseGeometry:
    def convert(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geometry, convert)


def geometry_from_crs84(geometry: BaseGeometry, crs: str) -> BaseGeometry:
    """``geometry`` (CRS84) in ``crs`` (a :data:`SUPPORTED` URI), in that CRS's axis order."""
    if crs == CRS84:
        return geometry
    return _apply(geometry, _transformer(_PYPROJ[CRS84], _PYPROJ[crs]))


def geometry_to_crs84(geometry: BaseGeometry, crs: str) -> BaseGeometry:
    """The inverse of :func:`geometry_from_crs84`: client geometry into the stored CRS."""
    if crs == CRS84:
        return geometry
    return _apply(geometry, _transformer(_PYPROJ[crs], _PYPROJ[CRS84]))


def bbox_to_crs84(
    bbox: tuple[float, float, float, float], crs: str
) -> tuple[float, float, float, float]:
    """A bbox given in ``crs`` (its axis order) as minlon,minlat,maxlon,maxlat.

    The corners alone are not enough for a projected CRS, so the box's edges are densified
    before transforming and the envelope of the result is taken.

    >>> [round(v, 4) for v in bbox_to_crs84((34.5, 109.7, 34.6, 109.8), EPSG_4490)]
    [109.7, 34.5, 109.8, 34.6]
    """
    if crs == CRS84:
        return bbox
    a1, b1, a2, b2 = bbox
    box = shapely.segmentize(shapely.box(a1, b1, a2, b2), max(a2 - a1, b2 - b1) / 16 or 1.0)
    minx, miny, maxx, maxy = geometry_to_crs84(box, crs).bounds
    return (minx, miny, maxx, maxy)
