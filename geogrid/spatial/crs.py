"""Coordinate systems met in Chinese grid data, and conversion of them to WGS 84 for storage.

geogrid stores every coordinate as WGS 84 longitude/latitude (EPSG:4326). Data arrives in four
geographic systems:

``wgs84``
    GNSS receivers, OpenStreetMap, GeoJSON (CRS84). Stored as is.
``cgcs2000``
    China Geodetic Coordinate System 2000 (EPSG:4490), the national datum: surveys, the
    natural-resources departments, Tianditu. It is *treated as WGS 84*, with no conversion; see
    below.
``gcj02``
    The "Mars" coordinates (GCJ-02, 国测局坐标) that Chinese law requires of maps published in
    China: an undisclosed, deliberately non-linear offset of WGS 84, typically a few hundred
    metres and at most about 730 m.
    Amap/Gaode, Tencent, and Google and Apple maps inside China show their tiles and return
    their geocodes in it, so anything clicked on or geocoded by these services is GCJ-02.
``bd09``
    Baidu's further offset on top of GCJ-02 (BD-09, "bd09ll"), used by Baidu Maps.

Why CGCS2000 is treated as WGS 84
    Both are geocentric datums realised through the ITRF (CGCS2000: ITRF97 at epoch 2000.0;
    current WGS 84 realisations: ITRF2008/2014) with ellipsoids that differ by 0.1 mm in the
    semi-minor axis. Compared at the same epoch they agree to a few centimetres, far below the
    0.5 m tolerance geogrid's geometries carry. What remains is plate motion: CGCS2000 is frozen
    at epoch 2000.0 while a fresh GNSS fix is at today's epoch, and China moves 3-5 cm a year,
    so a surveyed point and a 2020s WGS 84 fix of it can differ by up to about a metre. That is
    below the 2 m accuracy EPSG gives the WGS 84 datum ensemble itself and below what phone GNSS
    and web maps deliver, and PROJ handles EPSG:4490 -> EPSG:4326 with the same no-op ("ballpark
    geographic offset"). Converting CGCS2000 is therefore the identity here; if epoch-exact
    survey work is ever needed, it needs a time-dependent transformation, not this module.

The GCJ-02 forward formula is the one reverse-engineered in the public implementations
(googollee/eviltransform, wandergis/coordtransform): a fixed trigonometric polynomial in metres,
turned into degrees on the Krasovsky 1940 ellipsoid (a = 6 378 245 m, e² = 0.006 693 421 622 966),
and applied only inside a rough rectangle around China (:func:`out_of_china`). No closed-form
inverse exists, so :func:`gcj02_to_wgs84` solves it by fixed-point iteration to 1e-9 degree
(about 0.1 mm); the one-step inverse many libraries ship is off by up to 5 m. BD-09 is a small
polar-coordinate perturbation of GCJ-02 that Baidu applies everywhere (no China rectangle, as
in wandergis/coordtransform); its inverse is iterated the same way because the usual
closed-form approximation is off by up to 0.2 m.

All functions take longitude first (x, y order, as GeoJSON and shapely do) whatever axis order a
CRS code officially declares, accept scalars or array-likes (broadcast together) and return
``float64`` arrays, or numpy scalars for scalar input. NaN stays NaN.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from typing import Final, TypeVar

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry.base import BaseGeometry

from geogrid.errors import InvalidInputError

__all__ = [
    "CONVERGENCE_DEGREES",
    "CoordinateSystem",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "geometry_from_wgs84",
    "geometry_to_wgs84",
    "out_of_china",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

FloatArray = NDArray[np.float64]
G = TypeVar("G", bound=BaseGeometry)
#: A function converting (lon, lat) arrays of one system into another.
Converter = Callable[[ArrayLike, ArrayLike], tuple[FloatArray, FloatArray]]

# Krasovsky 1940, the ellipsoid of the Chinese 1954 datum, on which GCJ-02 turns its metre
# offsets into degrees. The digits are those of the public implementations; changing them
# moves every converted point by up to a centimetre.
KRASOVSKY_A: Final = 6378245.0
KRASOVSKY_E2: Final = 0.00669342162296594323

# The rectangle outside which GCJ-02 leaves coordinates alone (eviltransform's bounds).
_CHINA_LON_MIN: Final = 72.004
_CHINA_LON_MAX: Final = 137.8347
_CHINA_LAT_MIN: Final = 0.8293
_CHINA_LAT_MAX: Final = 55.8271

_BD_X_PI: Final = math.pi * 3000.0 / 180.0
_BD_DLON: Final = 0.0065
_BD_DLAT: Final = 0.006

#: The iterative inverses stop once the forward image of their answer is this close (degrees)
#: to the input on both axes: 1e-9 degree is about 0.1 mm.
CONVERGENCE_DEGREES: Final = 1e-9
# Each fixed-point step shrinks the error over 100-fold, so GCJ-02 (starting 0.01° off) takes 4
# steps and BD-09 (starting 2e-6° off) 2-3; the cap only guards against pathological input.
_MAX_ITERATIONS: Final = 20


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    lon_arr, lat_arr = np.broadcast_arrays(
        np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    )
    return lon_arr, lat_arr


def _result(values: FloatArray) -> FloatArray:
    # ``[()]`` turns a 0-d array into a numpy scalar and leaves other shapes alone, so scalar
    # input gives scalar output.
    return values[()]  # type: ignore[no-any-return]


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Whether GCJ-02 leaves a point unshifted: outside a rough rectangle around China.

    The rectangle (longitude 72.004-137.8347, latitude 0.8293-55.8271, edges inside) is the one
    of the public implementations. It is deliberately generous: every place in China, its seas
    included, is inside, and so are parts of its neighbours (Mongolia, the Koreas, Japan west of
    137.8°E, Vietnam...), which the formula shifts too. Its edges are at least 100 km from
    Chinese territory, so the discontinuity there does not affect Chinese data.

    Parameters
    ----------
    lon, lat : array_like
        Longitude and latitude in degrees (WGS 84 or GCJ-02: the rectangle is too rough for the
        difference to matter).

    Returns
    -------
    numpy.ndarray of bool, or numpy.bool_ for scalar input

    Examples
    --------
    >>> bool(out_of_china(116.404, 39.915)), bool(out_of_china(139.767, 35.681))
    (False, True)
    """
    lon_arr, lat_arr = _as_arrays(lon, lat)
    outside = (
        (lon_arr < _CHINA_LON_MIN)
        | (lon_arr > _CHINA_LON_MAX)
        | (lat_arr < _CHINA_LAT_MIN)
        | (lat_arr > _CHINA_LAT_MAX)
    )
    return outside[()]  # type: ignore[no-any-return]


def _gcj02_offset(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The GCJ-02 shift (degrees) of WGS 84 points, ignoring the China rectangle."""
    x = lon - 105.0
    y = lat - 35.0
    x_pi = x * math.pi
    y_pi = y * math.pi
    # The obfuscation itself: a polynomial plus sines, giving an offset in metres.
    shared = (20.0 * np.sin(6.0 * x_pi) + 20.0 * np.sin(2.0 * x_pi)) * 2.0 / 3.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    north_m = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * sqrt_abs_x
        + shared
        + (20.0 * np.sin(y_pi) + 40.0 * np.sin(y_pi / 3.0)) * 2.0 / 3.0
        + (160.0 * np.sin(y_pi / 12.0) + 320.0 * np.sin(y_pi / 30.0)) * 2.0 / 3.0
    )
    east_m = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * sqrt_abs_x
        + shared
        + (20.0 * np.sin(x_pi) + 40.0 * np.sin(x_pi / 3.0)) * 2.0 / 3.0
        + (150.0 * np.sin(x_pi / 12.0) + 300.0 * np.sin(x_pi / 30.0)) * 2.0 / 3.0
    )
    # Metres to degrees on the Krasovsky ellipsoid: divide by the meridian radius of curvature
    # M = a(1-e²)/w³ northwards and by the parallel's radius N·cos(lat) = a·cos(lat)/w eastwards,
    # where w = sqrt(1 - e²·sin²(lat)).
    lat_rad = lat * (math.pi / 180.0)
    w2 = 1.0 - KRASOVSKY_E2 * np.sin(lat_rad) ** 2
    w = np.sqrt(w2)
    meridian_radius = KRASOVSKY_A * (1.0 - KRASOVSKY_E2) / (w2 * w)
    parallel_radius = KRASOVSKY_A / w * np.cos(lat_rad)
    d_lon = east_m * 180.0 / (parallel_radius * math.pi)
    d_lat = north_m * 180.0 / (meridian_radius * math.pi)
    return d_lon, d_lat


def _invert(
    forward: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
    target_lon: FloatArray,
    target_lat: FloatArray,
    start_lon: FloatArray,
    start_lat: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Solve ``forward(lon, lat) == target`` by fixed-point iteration.

    It converges because both offsets change slowly with position (their derivatives are below
    1/100), so subtracting the residual shrinks the error more than 100-fold each step. The
    loop stops once every residual is within CONVERGENCE_DEGREES; the point returned is the
    next iterate, closer still.
    """
    lon, lat = start_lon, start_lat
    for _ in range(_MAX_ITERATIONS):
        image_lon, image_lat = forward(lon, lat)
        residual_lon = image_lon - target_lon
        residual_lat = image_lat - target_lat
        lon = lon - residual_lon
        lat = lat - residual_lat
        # ``> tolerance`` is False for NaN, so NaN input does not keep the loop running.
        if not (
            np.any(np.abs(residual_lon) > CONVERGENCE_DEGREES)
            or np.any(np.abs(residual_lat) > CONVERGENCE_DEGREES)
        ):
            break
    return lon, lat


def _gcj02_forward_unbounded(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    d_lon, d_lat = _gcj02_offset(lon, lat)
    return lon + d_lon, lat + d_lat


def _gcj02_inverse_unbounded(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _invert(_gcj02_forward_unbounded, lon, lat, lon, lat)


def _inside_china_only(
    convert: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
    lon: FloatArray,
    lat: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Apply ``convert`` to the points inside the China rectangle, copy the others."""
    # Working on the inside subset only saves time on mixed input and keeps points near the
    # poles, where cos(lat) vanishes, away from the formula and from the iteration.
    inside = ~np.asarray(out_of_china(lon, lat))
    out_lon = lon.copy()
    out_lat = lat.copy()
    out_lon[inside], out_lat[inside] = convert(lon[inside], lat[inside])
    return _result(out_lon), _result(out_lat)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Apply the GCJ-02 offset to WGS 84 coordinates (for display on Amap/Gaode, Tencent...).

    Points outside the China rectangle (:func:`out_of_china`) are returned unchanged, as the
    Chinese map services do.

    Parameters
    ----------
    lon, lat : array_like
        WGS 84 longitude and latitude in degrees; broadcast together.

    Returns
    -------
    (lon, lat) : tuple of numpy.ndarray
        GCJ-02 longitude and latitude; numpy scalars for scalar input.

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(116.404, 39.915)  # Tiananmen, Beijing
    >>> round(float(lon), 6), round(float(lat), 6)
    (116.410244, 39.916404)
    """
    lon_arr, lat_arr = _as_arrays(lon, lat)
    return _inside_china_only(_gcj02_forward_unbounded, lon_arr, lat_arr)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Remove the GCJ-02 offset: the WGS 84 point that GCJ-02 maps onto the given one.

    Solved by iteration to :data:`CONVERGENCE_DEGREES` (about 0.1 mm), not the one-step
    approximation (up to 5 m off) that many libraries ship. Input outside the China rectangle is
    returned unchanged. Within about 1 km of the rectangle's edges, far from Chinese territory,
    a point and its shifted image can fall on different sides of the edge and a round trip is
    not exact there.

    Parameters
    ----------
    lon, lat : array_like
        GCJ-02 longitude and latitude in degrees; broadcast together.

    Returns
    -------
    (lon, lat) : tuple of numpy.ndarray
        WGS 84 longitude and latitude; numpy scalars for scalar input.

    Examples
    --------
    >>> lon, lat = gcj02_to_wgs84(116.41024449916938, 39.91640428150164)
    >>> round(float(lon), 9), round(float(lat), 9)
    (116.404, 39.915)
    """
    lon_arr, lat_arr = _as_arrays(lon, lat)
    return _inside_china_only(_gcj02_inverse_unbounded, lon_arr, lat_arr)


def _gcj02_to_bd09(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    radius = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _BD_X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _BD_X_PI)
    return radius * np.cos(theta) + _BD_DLON, radius * np.sin(theta) + _BD_DLAT


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Apply Baidu's BD-09 offset to GCJ-02 coordinates (for display on Baidu Maps).

    The BD-09 formula has no China rectangle: it is applied everywhere, as wandergis/coordtransform
    does (eviltransform skips it outside the rectangle; Baidu does not publish its formula).

    Parameters
    ----------
    lon, lat : array_like
        GCJ-02 longitude and latitude in degrees; broadcast together.

    Returns
    -------
    (lon, lat) : tuple of numpy.ndarray
        BD-09 longitude and latitude; numpy scalars for scalar input.

    Examples
    --------
    >>> lon, lat = gcj02_to_bd09(116.404, 39.915)
    >>> round(float(lon), 6), round(float(lat), 6)
    (116.410369, 39.921337)
    """
    lon_arr, lat_arr = _as_arrays(lon, lat)
    bd_lon, bd_lat = _gcj02_to_bd09(lon_arr, lat_arr)
    return _result(bd_lon), _result(bd_lat)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Remove Baidu's BD-09 offset, giving GCJ-02 coordinates.

    Starts from the usual closed-form approximation (up to about 0.2 m off) and iterates to
    :data:`CONVERGENCE_DEGREES`.

    Parameters
    ----------
    lon, lat : array_like
        BD-09 longitude and latitude in degrees; broadcast together.

    Returns
    -------
    (lon, lat) : tuple of numpy.ndarray
        GCJ-02 longitude and latitude; numpy scalars for scalar input.

    Examples
    --------
    >>> lon, lat = bd09_to_gcj02(116.41036949371029, 39.92133699351021)
    >>> round(float(lon), 9), round(float(lat), 9)
    (116.404, 39.915)
    """
    lon_arr, lat_arr = _as_arrays(lon, lat)
    x = lon_arr - _BD_DLON
    y = lat_arr - _BD_DLAT
    radius = np.hypot(x, y) - 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_X_PI)
    start_lon = radius * np.cos(theta)
    start_lat = radius * np.sin(theta)
    gcj_lon, gcj_lat = _invert(_gcj02_to_bd09, lon_arr, lat_arr, start_lon, start_lat)
    return _result(gcj_lon), _result(gcj_lat)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """WGS 84 to BD-09: the GCJ-02 offset (inside China only), then Baidu's.

    Examples
    --------
    >>> lon, lat = wgs84_to_bd09(116.404, 39.915)
    >>> round(float(lon), 6), round(float(lat), 6)
    (116.416627, 39.9227)
    """
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """BD-09 to WGS 84: remove Baidu's offset, then the GCJ-02 one, both iteratively.

    Examples
    --------
    >>> lon, lat = bd09_to_wgs84(*wgs84_to_bd09(116.404, 39.915))
    >>> round(float(lon), 9), round(float(lat), 9)
    (116.404, 39.915)
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def _identity(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    lon_arr, lat_arr = _as_arrays(lon, lat)
    return _result(lon_arr.copy()), _result(lat_arr.copy())


class CoordinateSystem(enum.StrEnum):
    """The geographic coordinate systems geogrid accepts input in.

    Examples
    --------
    >>> CoordinateSystem.parse("EPSG:4490")
    <CoordinateSystem.CGCS2000: 'cgcs2000'>
    >>> CoordinateSystem.parse("bd09ll").value
    'bd09'
    """

    WGS84 = "wgs84"
    CGCS2000 = "cgcs2000"
    GCJ02 = "gcj02"
    BD09 = "bd09"

    @classmethod
    def parse(cls, value: str | int | CoordinateSystem) -> CoordinateSystem:
        """Read a coordinate-system name, EPSG code, OGC URN or URI, case-insensitively.

        Accepted: ``wgs84``, ``WGS-84``, ``EPSG:4326``, ``4326``,
        ``CRS84`` and the OGC URNs/URIs of EPSG:4326 and CRS84; ``cgcs2000``, ``EPSG:4490``,
        ``4490`` and its URN/URI; ``gcj02``, ``GCJ-02``, ``gcj02ll``; ``bd09``, ``BD-09``,
        ``bd09ll``. Projected systems (Baidu's ``bd09mc``, Web Mercator) are not accepted.

        Raises
        ------
        geogrid.errors.InvalidInputError
            For anything else, naming the value and the accepted ones.
        """
        if isinstance(value, cls):
            return value
        key = str(value).strip().lower()
        found = _ALIASES.get(key)
        if found is None:
            accepted = "; ".join(
                f"{system.value} ({', '.join(_EXAMPLE_ALIASES[system])})" for system in cls
            )
            raise InvalidInputError(
                f"Unknown coordinate system {value!r}. Accepted: {accepted}.",
                value=str(value),
                allowed=[system.value for system in cls],
            )
        return found


def _uris(code: str) -> list[str]:
    return [
        f"urn:ogc:def:crs:epsg::{code}",
        f"urn:ogc:def:crs:epsg:{code}",  # seen in the wild without the empty version field
        f"http://www.opengis.net/def/crs/epsg/0/{code}",
        f"https://www.opengis.net/def/crs/epsg/0/{code}",
        f"epsg:{code}",
        code,
    ]


#: Every accepted spelling, lower-case, to its system.
_ALIASES: Final[dict[str, CoordinateSystem]] = {
    **dict.fromkeys(
        [
            "wgs84",
            "wgs-84",
            "wgs_84",
            "wgs 84",
            "wgs84ll",
            "crs84",
            "ogc:crs84",
            "urn:ogc:def:crs:ogc:1.3:crs84",
            "urn:ogc:def:crs:ogc::crs84",
            "http://www.opengis.net/def/crs/ogc/1.3/crs84",
            "https://www.opengis.net/def/crs/ogc/1.3/crs84",
            *_uris("4326"),
        ],
        CoordinateSystem.WGS84,
    ),
    **dict.fromkeys(
        ["cgcs2000", "cgcs-2000", "cgcs_2000", "cgcs 2000", *_uris("4490")],
        CoordinateSystem.CGCS2000,
    ),
    **dict.fromkeys(
        ["gcj02", "gcj-02", "gcj_02", "gcj 02", "gcj02ll"],
        CoordinateSystem.GCJ02,
    ),
    **dict.fromkeys(["bd09", "bd-09", "bd_09", "bd 09", "bd09ll"], CoordinateSystem.BD09),
}

_EXAMPLE_ALIASES: Final[dict[CoordinateSystem, tuple[str, ...]]] = {
    CoordinateSystem.WGS84: ("EPSG:4326", "CRS84"),
    CoordinateSystem.CGCS2000: ("EPSG:4490",),
    CoordinateSystem.GCJ02: ("GCJ-02",),
    CoordinateSystem.BD09: ("BD-09", "bd09ll"),
}

_TO_WGS84: Final[dict[CoordinateSystem, Converter]] = {
    CoordinateSystem.WGS84: _identity,
    CoordinateSystem.CGCS2000: _identity,  # see the module docstring
    CoordinateSystem.GCJ02: gcj02_to_wgs84,
    CoordinateSystem.BD09: bd09_to_wgs84,
}

_FROM_WGS84: Final[dict[CoordinateSystem, Converter]] = {
    CoordinateSystem.WGS84: _identity,
    CoordinateSystem.CGCS2000: _identity,
    CoordinateSystem.GCJ02: wgs84_to_gcj02,
    CoordinateSystem.BD09: wgs84_to_bd09,
}


def to_wgs84(
    lon: ArrayLike, lat: ArrayLike, crs: CoordinateSystem | str | int
) -> tuple[FloatArray, FloatArray]:
    """Convert coordinates in ``crs`` to WGS 84, the system geogrid stores.

    Parameters
    ----------
    lon, lat : array_like
        Longitude and latitude in degrees; broadcast together.
    crs : CoordinateSystem or str or int
        Anything :meth:`CoordinateSystem.parse` accepts.

    Returns
    -------
    (lon, lat) : tuple of numpy.ndarray
        New arrays (never views of the input); numpy scalars for scalar input.

    Raises
    ------
    geogrid.errors.InvalidInputError
        If ``crs`` is not a known coordinate system.

    Examples
    --------
    >>> lon, lat = to_wgs84([116.41024449916938], [39.91640428150164], "GCJ-02")
    >>> lon.round(9).tolist(), lat.round(9).tolist()
    ([116.404], [39.915])
    """
    return _TO_WGS84[CoordinateSystem.parse(crs)](lon, lat)


def from_wgs84(
    lon: ArrayLike, lat: ArrayLike, crs: CoordinateSystem | str | int
) -> tuple[FloatArray, FloatArray]:
    """Convert WGS 84 coordinates to ``crs``: the inverse of :func:`to_wgs84`.

    Examples
    --------
    >>> lon, lat = from_wgs84(116.404, 39.915, "gcj02")
    >>> round(float(lon), 6), round(float(lat), 6)
    (116.410244, 39.916404)
    """
    return _FROM_WGS84[CoordinateSystem.parse(crs)](lon, lat)


def _transform_geometry(geometry: G, convert: Converter, max_segment: float | None) -> G:
    def apply(coords: FloatArray) -> FloatArray:
        out = coords.copy()
        out[:, 0], out[:, 1] = convert(coords[:, 0], coords[:, 1])
        return out

    if max_segment is not None:
        if not max_segment > 0:
            raise InvalidInputError(
                f"max_segment must be a positive number of degrees, not {max_segment!r}.",
                value=max_segment,
            )
        geometry = shapely.segmentize(geometry, max_segment)
    # include_z=None keeps each geometry's own dimensionality; z passes through untouched
    # (the offsets are horizontal only).
    return shapely.transform(geometry, apply, include_z=None)  # type: ignore[no-any-return]


def geometry_to_wgs84(
    geometry: G, crs: CoordinateSystem | str | int, *, max_segment: float | None = None
) -> G:
    """Convert every vertex of a shapely geometry in ``crs`` to WGS 84.

    Works for any geometry type (and for numpy arrays of geometries). Z values are kept as
    they are, since the offsets are horizontal only; 2-D input stays 2-D.

    Only vertices are moved, and the offsets are non-linear, so the middle of a long edge ends
    up off the true line: by about 1 cm for a 300 m edge, 0.1 m for 1 km, 0.8 m for 3 km and
    8 m for 10 km (worst cases measured over China). Grid boundaries drawn on a web map with
    few vertices (a rectangle of four clicks, say) therefore need ``max_segment``: 0.01 degree
    (about 1 km) keeps the error near 0.1 m, 0.005 (about 500 m) near 2 cm.

    Parameters
    ----------
    geometry : shapely.Geometry
        Coordinates in ``crs``, longitude first.
    crs : CoordinateSystem or str or int
        Anything :meth:`CoordinateSystem.parse` accepts.
    max_segment : float, optional
        If given, edges are first split (``shapely.segmentize``) into pieces no longer than
        this many degrees, which adds vertices. By default the vertices are kept as they are.

    Returns
    -------
    shapely.Geometry
        A geometry of the same type; the same object when ``crs`` is WGS 84 or CGCS2000 (and
        then ``max_segment`` is not applied either).

    Raises
    ------
    geogrid.errors.InvalidInputError
        If ``crs`` is not a known coordinate system, or ``max_segment`` is not positive.

    Examples
    --------
    >>> from shapely import Point
    >>> fixed = geometry_to_wgs84(Point(116.41024449916938, 39.91640428150164), "gcj02")
    >>> round(fixed.x, 9), round(fixed.y, 9)
    (116.404, 39.915)
    """
    system = CoordinateSystem.parse(crs)
    if system in (CoordinateSystem.WGS84, CoordinateSystem.CGCS2000):
        return geometry
    return _transform_geometry(geometry, _TO_WGS84[system], max_segment)


def geometry_from_wgs84(
    geometry: G, crs: CoordinateSystem | str | int, *, max_segment: float | None = None
) -> G:
    """Convert a WGS 84 shapely geometry to ``crs``, e.g. GCJ-02 to draw on Amap/Gaode tiles.

    The inverse of :func:`geometry_to_wgs84`, with the same treatment of z, of long edges and
    of ``max_segment``.

    Examples
    --------
    >>> from shapely import Point
    >>> moved = geometry_from_wgs84(Point(116.404, 39.915), "gcj02")
    >>> round(moved.x, 6), round(moved.y, 6)
    (116.410244, 39.916404)
    """
    system = CoordinateSystem.parse(crs)
    if system in (CoordinateSystem.WGS84, CoordinateSystem.CGCS2000):
        return geometry
    return _transform_geometry(geometry, _FROM_WGS84[system], max_segment)
