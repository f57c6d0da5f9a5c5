"""Coordinate conversion WGS 84 <-> GCJ-02 <-> BD-09 and CRS parsing (pure: no database).

Published vectors, each reproduced by our formula before being used here:

* googollee/eviltransform, ``python/test.py`` and ``go/transform_test.go`` (``TESTS``):
  three WGS 84 -> GCJ-02 pairs (Shanghai, Shenzhen, Beijing). Our forward matches their digits
  exactly; we check the iterative inverse against the same pairs.
* wandergis/coordtransform, ``test/app.js``: the point (116.404, 39.915), Tiananmen, run
  through each conversion. ``wgs84togcj02`` and ``gcj02tobd09`` are exact forward formulas and
  match to the last digit. ``gcj02towgs84`` and ``bd09togcj02`` there are closed-form
  approximations (5-6 cm off at this point), so our exact inverses are held to 1e-6 degree of
  them, and separately shown to be exact by running the forward formula on them.

Left out because they disagree with the formula by more than 1e-6 degree: eviltransform's
``TESTS_bd`` (BD-09 -> WGS 84; 10 m and 41 m away from the exact inverse) and hutool's
``CoordinateUtilTest`` (its GCJ-02 longitude is 9e-5 degree, about 8 m, off wandergis').
"""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import Geod
from shapely import GeometryCollection, LineString, MultiPolygon, Point, Polygon
from shapely.affinity import translate

from geogrid.errors import InvalidInputError
from geogrid.spatial import crs
from geogrid.spatial.crs import (
    CoordinateSystem,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    geometry_from_wgs84,
    geometry_to_wgs84,
    out_of_china,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

GEOD = Geod(ellps="WGS84")
EXACT_DEGREES = 1e-9  # about 0.1 mm: what the formulas and iterations are held to
ROUND_TRIP_METRES = 0.01  # the issue asks for < 0.5 m; we aim for < 1 cm
SAMPLE_SIZE = 10_000

# (name, wgs lon, wgs lat, gcj lon, gcj lat)
WGS_GCJ_PAIRS = [
    ("eviltransform shanghai", 121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),
    ("eviltransform shenzhen", 113.912316, 22.543847, 113.9171764808363, 22.540796131694766),
    ("eviltransform beijing", 116.377817, 39.911954, 116.38404722455657, 39.91334545536069),
    ("wandergis tiananmen", 116.404, 39.915, 116.41024449916938, 39.91640428150164),
]
PAIR_IDS = [pair[0] for pair in WGS_GCJ_PAIRS]
# (name, gcj lon, gcj lat, bd lon, bd lat)
GCJ_BD_PAIRS = [
    ("wandergis tiananmen", 116.404, 39.915, 116.41036949371029, 39.92133699351021),
]

# Outside the GCJ-02 rectangle: no shift.
OUTSIDE_CHINA = [
    ("tokyo", 139.767, 35.681),
    ("london", -0.1276, 51.5072),
    ("sydney", 151.2093, -33.8688),
    ("null island", 0.0, 0.0),
    ("north pole", 0.0, 90.0),
    ("south pole antimeridian", -180.0, -90.0),
    ("just west of the rectangle", 72.0039, 40.0),
    ("just north of the rectangle", 120.0, 55.8272),
]


def distance_m(lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike) -> NDArray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def sample(rng: np.random.Generator, west: float, east: float, south: float, north: float):
    return rng.uniform(west, east, SAMPLE_SIZE), rng.uniform(south, north, SAMPLE_SIZE)


# The GCJ-02 rectangle less a margin larger than the largest shift (0.011°), so that a point and
# its image are on the same side of the edge; and China's own extent.
RECTANGLE = (72.004 + 0.02, 137.8347 - 0.02, 0.8293 + 0.02, 55.8271 - 0.02)
CHINA = (73.5, 135.1, 3.8, 53.6)


@pytest.fixture(params=[RECTANGLE, CHINA], ids=["gcj02 rectangle", "china extent"])
def points(request: pytest.FixtureRequest) -> tuple[NDArray, NDArray]:
    return sample(np.random.default_rng(20240601), *request.param)


# --- published vectors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "wgs_lon", "wgs_lat", "gcj_lon", "gcj_lat"), WGS_GCJ_PAIRS, ids=PAIR_IDS
)
def test_wgs84_to_gcj02_matches_published_pairs(
    name: str, wgs_lon: float, wgs_lat: float, gcj_lon: float, gcj_lat: float
) -> None:
    lon, lat = wgs84_to_gcj02(wgs_lon, wgs_lat)
    assert lon == pytest.approx(gcj_lon, abs=EXACT_DEGREES)
    assert lat == pytest.approx(gcj_lat, abs=EXACT_DEGREES)


@pytest.mark.parametrize(
    ("name", "wgs_lon", "wgs_lat", "gcj_lon", "gcj_lat"), WGS_GCJ_PAIRS, ids=PAIR_IDS
)
def test_gcj02_to_wgs84_inverts_published_pairs(
    name: str, wgs_lon: float, wgs_lat: float, gcj_lon: float, gcj_lat: float
) -> None:
    lon, lat = gcj02_to_wgs84(gcj_lon, gcj_lat)
    assert lon == pytest.approx(wgs_lon, abs=EXACT_DEGREES)
    assert lat == pytest.approx(wgs_lat, abs=EXACT_DEGREES)
    assert distance_m(lon, lat, wgs_lon, wgs_lat) < ROUND_TRIP_METRES


@pytest.mark.parametrize(
    ("name", "gcj_lon", "gcj_lat", "bd_lon", "bd_lat"), GCJ_BD_PAIRS, ids=[GCJ_BD_PAIRS[0][0]]
)
def test_gcj02_bd09_match_published_pairs(
    name: str, gcj_lon: float, gcj_lat: float, bd_lon: float, bd_lat: float
) -> None:
    assert gcj02_to_bd09(gcj_lon, gcj_lat) == pytest.approx((bd_lon, bd_lat), abs=EXACT_DEGREES)
    assert bd09_to_gcj02(bd_lon, bd_lat) == pytest.approx((gcj_lon, gcj_lat), abs=EXACT_DEGREES)


@pytest.mark.parametrize(
    ("convert", "published"),
    [
        # wandergis' gcj02towgs84(116.404, 39.915): the one-step approximation
        (gcj02_to_wgs84, (116.39775550083061, 39.91359571849836)),
        # wandergis' bd09togcj02(116.404, 39.915): the closed-form approximation
        (bd09_to_gcj02, (116.39762729119315, 39.90865673957631)),
    ],
    ids=["gcj02towgs84", "bd09togcj02"],
)
def test_inverses_agree_with_published_approximations(
    convert: crs.Converter, published: tuple[float, float]
) -> None:
    assert convert(116.404, 39.915) == pytest.approx(published, abs=1e-6)


@pytest.mark.parametrize(
    ("inverse", "forward"),
    [(gcj02_to_wgs84, wgs84_to_gcj02), (bd09_to_gcj02, gcj02_to_bd09)],
    ids=["gcj02", "bd09"],
)
def test_inverse_is_exact_where_the_approximation_is_not(
    inverse: crs.Converter, forward: crs.Converter
) -> None:
    assert forward(*inverse(116.404, 39.915)) == pytest.approx((116.404, 39.915), abs=1e-10)


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("there", "back"),
    [
        (wgs84_to_gcj02, gcj02_to_wgs84),
        (gcj02_to_wgs84, wgs84_to_gcj02),
        (wgs84_to_bd09, bd09_to_wgs84),
        (bd09_to_wgs84, wgs84_to_bd09),
        (gcj02_to_bd09, bd09_to_gcj02),
        (bd09_to_gcj02, gcj02_to_bd09),
    ],
    ids=lambda f: f.__name__,
)
def test_round_trip_within_a_centimetre(
    points: tuple[NDArray, NDArray], there: crs.Converter, back: crs.Converter
) -> None:
    lon, lat = points
    moved_lon, moved_lat = there(lon, lat)
    assert np.median(distance_m(lon, lat, moved_lon, moved_lat)) > 100  # it did move
    again_lon, again_lat = back(moved_lon, moved_lat)
    assert distance_m(lon, lat, again_lon, again_lat).max() < ROUND_TRIP_METRES


def test_gcj02_shift_is_at_most_about_700_m(points: tuple[NDArray, NDArray]) -> None:
    lon, lat = points
    shift = distance_m(lon, lat, *wgs84_to_gcj02(lon, lat))
    assert np.median(shift) > 100 and shift.max() < 750


# --- the China rectangle -------------------------------------------------------------------


@pytest.mark.parametrize(("name", "lon", "lat"), OUTSIDE_CHINA, ids=[p[0] for p in OUTSIDE_CHINA])
@pytest.mark.parametrize("convert", [wgs84_to_gcj02, gcj02_to_wgs84], ids=lambda f: f.__name__)
def test_outside_china_is_not_shifted(
    convert: crs.Converter, name: str, lon: float, lat: float
) -> None:
    assert out_of_china(lon, lat)
    assert convert(lon, lat) == (lon, lat)


@pytest.mark.parametrize(
    ("lon", "lat", "expected"),
    [
        (116.404, 39.915, False),
        (72.004, 30.0, False),  # the edges belong to the inside
        (137.8347, 30.0, False),
        (100.0, 0.8293, False),
        (100.0, 55.8271, False),
        (72.0039, 30.0, True),
        (137.8348, 30.0, True),
        (100.0, 0.8292, True),
        (100.0, 55.8272, True),
    ],
)
def test_out_of_china_rectangle(lon: float, lat: float, expected: bool) -> None:
    assert bool(out_of_china(lon, lat)) is expected


def test_mixed_input_shifts_only_the_points_inside() -> None:
    lon = np.array([116.404, 139.767, 121.5272106])
    lat = np.array([39.915, 35.681, 31.1774276])
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    np.testing.assert_array_equal(out_of_china(lon, lat), [False, True, False])
    assert (gcj_lon[1], gcj_lat[1]) == (139.767, 35.681)
    assert gcj_lon[0] != lon[0] and gcj_lon[2] != lon[2]
    np.testing.assert_allclose(gcj02_to_wgs84(gcj_lon, gcj_lat), (lon, lat), atol=EXACT_DEGREES)


def test_bd09_offset_applies_outside_china_too() -> None:
    # BD-09 has no rectangle (as in wandergis); WGS 84 -> BD-09 abroad is the BD step alone.
    lon, lat = wgs84_to_bd09(139.767, 35.681)
    assert (lon, lat) == gcj02_to_bd09(139.767, 35.681)
    assert distance_m(lon, lat, 139.767, 35.681) > 100
    assert bd09_to_wgs84(lon, lat) == pytest.approx((139.767, 35.681), abs=EXACT_DEGREES)


# --- array handling ------------------------------------------------------------------------

ALL_CONVERTERS = [
    wgs84_to_gcj02,
    gcj02_to_wgs84,
    gcj02_to_bd09,
    bd09_to_gcj02,
    wgs84_to_bd09,
    bd09_to_wgs84,
]


@pytest.mark.parametrize("convert", ALL_CONVERTERS, ids=lambda f: f.__name__)
def test_vectorised_equals_scalar(convert: crs.Converter) -> None:
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(73.5, 135.1, 50), rng.uniform(3.8, 53.6, 50)
    lon[:3], lat[:3] = [139.767, -0.1276, 0.0], [35.681, 51.5072, 90.0]  # outside the rectangle
    many_lon, many_lat = convert(lon, lat)
    one_by_one = np.array([convert(x, y) for x, y in zip(lon, lat, strict=True)])
    # The array loop may run one step more than a single point needs, so the inverses agree to
    # about 1e-12° (0.1 µm), not bit for bit.
    np.testing.assert_allclose(many_lon, one_by_one[:, 0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(many_lat, one_by_one[:, 1], rtol=0, atol=1e-10)


@pytest.mark.parametrize("convert", ALL_CONVERTERS, ids=lambda f: f.__name__)
def test_shapes_scalars_lists_and_broadcasting(convert: crs.Converter) -> None:
    lon, lat = convert(116.404, 39.915)
    assert np.ndim(lon) == 0 and np.ndim(lat) == 0
    assert isinstance(float(lon), float)

    grid_lon, grid_lat = convert(np.full((2, 3), 116.404), np.full((2, 3), 39.915))
    assert grid_lon.shape == grid_lat.shape == (2, 3)
    np.testing.assert_allclose(grid_lon, lon, rtol=0, atol=1e-12)

    row_lon, row_lat = convert([116.0, 117.0], 39.915)  # a list and a scalar broadcast
    assert row_lon.shape == row_lat.shape == (2,)

    empty_lon, empty_lat = convert(np.array([]), np.array([]))
    assert empty_lon.shape == empty_lat.shape == (0,)


@pytest.mark.parametrize("convert", ALL_CONVERTERS, ids=lambda f: f.__name__)
def test_nan_stays_nan_and_input_is_not_modified(convert: crs.Converter) -> None:
    lon = np.array([116.404, np.nan, 121.5])
    lat = np.array([39.915, 30.0, np.nan])
    lon_before, lat_before = lon.copy(), lat.copy()
    out_lon, out_lat = convert(lon, lat)
    assert not np.isnan(out_lon[0]) and not np.isnan(out_lat[0])
    assert np.isnan(out_lon[1]) or np.isnan(out_lat[1])
    assert np.isnan(out_lon[2]) or np.isnan(out_lat[2])
    np.testing.assert_array_equal(lon, lon_before)
    np.testing.assert_array_equal(lat, lat_before)


# --- geometries ----------------------------------------------------------------------------

# A GCJ-02 block near Tiananmen with a courtyard.
GCJ_POLYGON = Polygon(
    [(116.40, 39.91), (116.42, 39.91), (116.42, 39.93), (116.40, 39.93), (116.40, 39.91)],
    holes=[[(116.405, 39.915), (116.41, 39.915), (116.41, 39.92), (116.405, 39.915)]],
)


def test_polygon_to_wgs84_moves_every_vertex_like_the_arrays() -> None:
    converted = geometry_to_wgs84(GCJ_POLYGON, "GCJ-02")
    assert converted.geom_type == "Polygon"
    assert converted.is_valid
    assert len(converted.interiors) == 1
    coords = shapely.get_coordinates(GCJ_POLYGON)
    expected = np.column_stack(gcj02_to_wgs84(coords[:, 0], coords[:, 1]))
    np.testing.assert_allclose(shapely.get_coordinates(converted), expected, rtol=0, atol=1e-12)
    # GCJ-02 lies north-east of WGS 84 in Beijing: the true position is south-west.
    assert converted.centroid.x < GCJ_POLYGON.centroid.x
    assert converted.centroid.y < GCJ_POLYGON.centroid.y
    assert converted.area == pytest.approx(GCJ_POLYGON.area, rel=1e-3)


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
@pytest.mark.parametrize(
    "geometry",
    [
        Point(116.404, 39.915),
        LineString([(116.40, 39.91), (116.42, 39.93)]),
        GCJ_POLYGON,
        MultiPolygon([GCJ_POLYGON, translate(GCJ_POLYGON, 0.1, 0.1)]),
        GeometryCollection([Point(121.5, 31.2), LineString([(113.9, 22.5), (114.0, 22.6)])]),
    ],
    ids=lambda g: g.geom_type,
)
def test_geometry_round_trip(geometry: shapely.Geometry, system: str) -> None:
    shown = geometry_from_wgs84(geometry, system)
    assert shown.geom_type == geometry.geom_type
    assert not shapely.equals_exact(shown, geometry, tolerance=1e-4)
    back = geometry_to_wgs84(shown, system)
    assert shapely.equals_exact(back, geometry, tolerance=EXACT_DEGREES)


def test_z_is_kept_and_2d_stays_2d() -> None:
    line = LineString([(116.40, 39.91, 43.5), (116.42, 39.93, 51.0)])
    converted = geometry_to_wgs84(line, CoordinateSystem.GCJ02)
    assert converted.has_z
    np.testing.assert_array_equal(
        shapely.get_coordinates(converted, include_z=True)[:, 2], [43.5, 51.0]
    )
    assert not geometry_to_wgs84(Point(116.404, 39.915), "gcj02").has_z


def test_max_segment_keeps_long_edges_on_the_true_line() -> None:
    # A 10 km GCJ-02 edge: the true (WGS 84) position of a point along it.
    edge = LineString([(116.40, 39.90), (116.50, 39.90)])
    on_edge = Point(gcj02_to_wgs84(116.4537, 39.90))
    metres_per_degree = 111_000  # an upper bound, so the distances below are upper bounds

    vertices_only = geometry_to_wgs84(edge, "gcj02")
    assert len(vertices_only.coords) == 2
    assert shapely.distance(vertices_only, on_edge) * metres_per_degree > 1

    densified = geometry_to_wgs84(edge, "gcj02", max_segment=0.005)
    assert len(densified.coords) == 21
    assert shapely.distance(densified, on_edge) * metres_per_degree < 0.05


@pytest.mark.parametrize("max_segment", [0.0, -0.01, math.nan])
def test_max_segment_must_be_positive(max_segment: float) -> None:
    with pytest.raises(InvalidInputError, match="max_segment"):
        geometry_from_wgs84(GCJ_POLYGON, "gcj02", max_segment=max_segment)


def test_empty_geometry_and_geometry_arrays() -> None:
    assert geometry_to_wgs84(Polygon(), "gcj02").is_empty
    converted = geometry_to_wgs84(np.array([Point(116.404, 39.915), None]), "gcj02")
    assert converted[1] is None
    assert converted[0].x == pytest.approx(gcj02_to_wgs84(116.404, 39.915)[0], abs=1e-12)


@pytest.mark.parametrize("system", ["wgs84", "EPSG:4490", CoordinateSystem.CGCS2000])
def test_wgs84_and_cgcs2000_geometries_are_returned_as_they_are(system: str) -> None:
    assert geometry_to_wgs84(GCJ_POLYGON, system) is GCJ_POLYGON
    assert geometry_from_wgs84(GCJ_POLYGON, system) is GCJ_POLYGON


# --- coordinate systems --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("wgs84", CoordinateSystem.WGS84),
        ("WGS84", CoordinateSystem.WGS84),
        ("WGS-84", CoordinateSystem.WGS84),
        ("EPSG:4326", CoordinateSystem.WGS84),
        ("epsg:4326", CoordinateSystem.WGS84),
        ("4326", CoordinateSystem.WGS84),
        (4326, CoordinateSystem.WGS84),
        (" EPSG:4326 ", CoordinateSystem.WGS84),
        ("CRS84", CoordinateSystem.WGS84),
        ("urn:ogc:def:crs:OGC:1.3:CRS84", CoordinateSystem.WGS84),
        ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", CoordinateSystem.WGS84),
        ("urn:ogc:def:crs:EPSG::4326", CoordinateSystem.WGS84),
        ("http://www.opengis.net/def/crs/EPSG/0/4326", CoordinateSystem.WGS84),
        ("CGCS2000", CoordinateSystem.CGCS2000),
        ("cgcs2000", CoordinateSystem.CGCS2000),
        ("EPSG:4490", CoordinateSystem.CGCS2000),
        ("4490", CoordinateSystem.CGCS2000),
        ("urn:ogc:def:crs:EPSG::4490", CoordinateSystem.CGCS2000),
        ("http://www.opengis.net/def/crs/EPSG/0/4490", CoordinateSystem.CGCS2000),
        ("GCJ02", CoordinateSystem.GCJ02),
        ("GCJ-02", CoordinateSystem.GCJ02),
        ("gcj02", CoordinateSystem.GCJ02),
        ("gcj02ll", CoordinateSystem.GCJ02),
        ("BD09", CoordinateSystem.BD09),
        ("BD-09", CoordinateSystem.BD09),
        ("bd09ll", CoordinateSystem.BD09),
        (CoordinateSystem.BD09, CoordinateSystem.BD09),
    ],
)
def test_parse_accepts_aliases(text: str | int, expected: CoordinateSystem) -> None:
    assert CoordinateSystem.parse(text) is expected


def test_values_are_the_lower_case_names() -> None:
    assert [system.value for system in CoordinateSystem] == ["wgs84", "cgcs2000", "gcj02", "bd09"]
    assert CoordinateSystem("gcj02") == "gcj02"


@pytest.mark.parametrize(
    "text", ["", "wgs", "EPSG:3857", "bd09mc", "3857", 3857, "urn:ogc:def:crs:EPSG::3857", "火星"]
)
def test_parse_rejects_unknown_naming_the_value_and_the_accepted_ones(text: str | int) -> None:
    with pytest.raises(InvalidInputError) as caught:
        CoordinateSystem.parse(text)
    error = caught.value
    assert error.status == 422
    assert repr(text) in error.detail
    for system in CoordinateSystem:
        assert system.value in error.detail
    assert "EPSG:4326" in error.detail and "EPSG:4490" in error.detail
    assert error.extra["allowed"] == ["wgs84", "cgcs2000", "gcj02", "bd09"]


@pytest.mark.parametrize(
    ("system", "inbound", "outbound"),
    [
        ("gcj02", gcj02_to_wgs84, wgs84_to_gcj02),
        ("BD-09", bd09_to_wgs84, wgs84_to_bd09),
    ],
)
def test_to_and_from_wgs84_dispatch(
    system: str, inbound: crs.Converter, outbound: crs.Converter
) -> None:
    lon, lat = np.array([116.404, 121.5]), np.array([39.915, 31.2])
    np.testing.assert_array_equal(to_wgs84(lon, lat, system), inbound(lon, lat))
    np.testing.assert_array_equal(from_wgs84(lon, lat, system), outbound(lon, lat))


@pytest.mark.parametrize("system", ["EPSG:4326", "cgcs2000", "urn:ogc:def:crs:OGC:1.3:CRS84"])
def test_wgs84_and_cgcs2000_are_not_shifted_and_are_copied(system: str) -> None:
    lon, lat = np.array([116.404, 121.5]), np.array([39.915, 31.2])
    for convert in (to_wgs84, from_wgs84):
        out_lon, out_lat = convert(lon, lat, system)
        np.testing.assert_array_equal(out_lon, lon)
        np.testing.assert_array_equal(out_lat, lat)
        assert not np.shares_memory(out_lon, lon)


def test_to_wgs84_rejects_an_unknown_crs() -> None:
    with pytest.raises(InvalidInputError, match="EPSG:3857"):
        to_wgs84(116.404, 39.915, "EPSG:3857")


def test_docstring_examples() -> None:
    failures, tried = doctest.testmod(crs, optionflags=doctest.ELLIPSIS)
    assert tried > 10
    assert failures == 0


def test_one_degree_is_about_a_hundred_km() -> None:
    # Guards distance_m itself, on which the round-trip thresholds rely.
    assert distance_m(116.0, 40.0, 116.0, 41.0) == pytest.approx(111_000, rel=0.01)
    assert math.isclose(float(distance_m(116.0, 40.0, 116.0, 40.0)), 0.0)
