"""Bounding boxes given as query parameters: one parser for every route that filters by one.

A bbox is ``minlon,minlat,maxlon,maxlat`` in CRS84 (longitude first, as in GeoJSON and OGC
API Features), or the six-number 3-D form ``minlon,minlat,minh,maxlon,maxlat,maxh`` whose
heights are ignored. Boxes crossing the antimeridian (minlon > maxlon in OGC's convention)
are refused: no grid lies there, and the repository filters with one envelope.

A malformed bbox is an :class:`~geogrid.errors.InvalidInputError` with rule ``bbox``. Which
status it is answered with is the protocol's business, not this function's: the core API
answers every invalid value with 422, like its schema validation; OGC API – Features
requires 400 for an invalid parameter (``/req/core/query-param-invalid``), so
:mod:`geogrid.grids.ogc` re-raises it as its 400 error. The ``rule`` — and so the problem
``type`` — is the same in both, since it is the same mistake.
"""

from __future__ import annotations

import math

from geogrid.errors import InvalidInputError

__all__ = ["BBox", "parse_bbox"]

BBox = tuple[float, float, float, float]


def parse_bbox(value: str | None) -> BBox | None:
    """``(minlon, minlat, maxlon, maxlat)`` from a query parameter; ``None`` when absent.

    >>> parse_bbox("109.7,34.4,109.9,34.6")
    (109.7, 34.4, 109.9, 34.6)
    >>> parse_bbox("109.7,34.4,0,109.9,34.6,100")
    (109.7, 34.4, 109.9, 34.6)
    >>> try:
    ...     parse_bbox("109.7,34.6,109.9,34.4")
    ... except InvalidInputError as exc:
    ...     print(exc.rule, "|", exc.detail.split(": ")[-1])
    bbox | minlat 34.6 is above maxlat 34.4.
    """
    if value is None:
        return None
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError:
        numbers = []
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    problem = None
    if len(numbers) != 4:
        problem = "four (or six) comma-separated numbers are needed"
    elif not all(math.isfinite(n) for n in numbers):
        problem = "NaN and infinity are not coordinates"
    elif not all(-180 <= n <= 180 for n in numbers[0::2]):
        problem = "longitudes lie in [-180, 180]"
    elif not all(-90 <= n <= 90 for n in numbers[1::2]):
        problem = "latitudes lie in [-90, 90]"
    elif numbers[0] > numbers[2]:
        problem = f"minlon {numbers[0]:g} is east of maxlon {numbers[2]:g}"
    elif numbers[1] > numbers[3]:
        problem = f"minlat {numbers[1]:g} is above maxlat {numbers[3]:g}"
    if problem is not None:
        raise InvalidInputError(
            f"bbox={value!r} must be minlon,minlat,maxlon,maxlat (CRS84, longitude first): "
            f"{problem}.",
            rule="bbox",
            parameter="bbox",
        )
    return numbers[0], numbers[1], numbers[2], numbers[3]
