"""Boundary validation: each rule refuses bad input with a 422 that says what and where.

The pure tests call :mod:`geogrid.grids.validation` directly; the API tests send the same bad
input to POST /grids and check the problem+json and that no row was written.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import mapping
from sqlalchemy import Engine

from geogrid.errors import InvalidInputError
from geogrid.grids.validation import (
    GridContext,
    area_m2,
    check_placement,
    metric_projector,
    parse_geometry,
    validate_grid_geometry,
)
from geogrid.spatial.crs import geometry_from_wgs84
from tests.test_grids_support import Leaf, feature, inner_square, pick_leaf


@pytest.fixture(scope="module")
def leaf(demo: Engine) -> Leaf:
    return pick_leaf(demo)


X0, Y0 = 109.77, 34.51  # old-town Huazhou


def ring(*xy: tuple[float, float]) -> list[list[float]]:
    return [[x, y] for x, y in xy]


def poly(*xy: tuple[float, float]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [ring(*xy)]}


def raises(geometry: Any, **kwargs: Any) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as info:
        parse_geometry(geometry, **kwargs)
    return info.value


# -- pure: the shape on its own -----------------------------------------------------------------

d = 0.001
BOWTIE = poly((X0, Y0), (X0 + d, Y0 + d), (X0 + d, Y0), (X0, Y0 + d), (X0, Y0))
SPIKE = poly(
    (X0, Y0),
    (X0 + d, Y0),
    (X0 + d, Y0 + d),
    (X0 + d / 2, Y0 + d),
    (X0 + d / 2, Y0 + 2 * d),
    (X0 + d / 2, Y0 + d),
    (X0, Y0 + d),
    (X0, Y0),
)


@pytest.mark.parametrize(
    ("geometry", "rule", "words", "location"),
    [
        (BOWTIE, "self_intersection", "Self-intersection at", (X0 + d / 2, Y0 + d / 2)),
        (SPIKE, "spike", "spike at", (X0 + d / 2, Y0 + 2 * d)),
        (
            {"type": "Polygon", "coordinates": [ring((X0, Y0), (X0 + d, Y0), (X0 + d, Y0 + d))]},
            "ring_too_short",
            "needs at least 4",
            (X0, Y0),
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [ring((X0, Y0), (X0 + d, Y0), (X0 + d, Y0 + d), (X0, Y0 + d))],
            },
            "ring_not_closed",
            "not closed",
            (X0, Y0 + d),
        ),
        (
            poly((190.0, Y0), (191.0, Y0), (191.0, Y0 + 1), (190.0, Y0)),
            "out_of_range",
            "range",
            (190.0, Y0),
        ),
        (
            poly((Y0, X0), (Y0, X0 + d), (Y0 + d, X0 + d), (Y0, X0)),
            "out_of_range",
            "swap them",
            (Y0, X0),
        ),
        (
            poly((X0, Y0), (X0 + d, Y0 + d), (X0 + 2 * d, Y0 + 2 * d), (X0, Y0)),
            "zero_area",
            "zero area",
            None,
        ),
    ],
    ids=["self-intersection", "spike", "too-short", "unclosed", "lon-range", "swapped", "zero"],
)
def test_shape_faults_name_the_rule_and_the_place(
    geometry: dict[str, Any], rule: str, words: str, location: tuple[float, float] | None
) -> None:
    err = raises(geometry)
    assert err.status == 422
    assert err.extra["rule"] == rule
    assert words in err.detail
    if location is not None:
        assert err.extra["location"] == pytest.approx(list(location), abs=1e-9)


@pytest.mark.parametrize(
    ("geometry", "rule"),
    [
        ({"type": "GeometryCollection", "geometries": [BOWTIE]}, "not_polygonal"),
        ({"type": "Point", "coordinates": [X0, Y0]}, "not_polygonal"),
        ({"type": "LineString", "coordinates": [[X0, Y0], [X0 + d, Y0]]}, "not_polygonal"),
        ({"type": "Polygon", "coordinates": []}, "empty"),
        ({"type": "MultiPolygon", "coordinates": [[[]]]}, "empty"),
        (poly((X0, Y0), (math.nan, Y0), (X0 + d, Y0 + d), (X0, Y0)), "not_finite"),
        (poly((X0, Y0), (math.inf, Y0), (X0 + d, Y0 + d), (X0, Y0)), "not_finite"),
        (None, "missing"),
    ],
)
def test_non_polygons_and_non_numbers_are_refused(geometry: Any, rule: str) -> None:
    assert raises(geometry).extra["rule"] == rule


def test_vertex_cap_is_a_parameter_with_a_default_of_ten_thousand() -> None:
    circle = shapely.Point(X0, Y0).buffer(0.01, quad_segs=2500)  # 10 001 vertices
    assert len(circle.exterior.coords) == 10_001
    err = raises(mapping(circle))
    assert err.extra["rule"] == "too_many_vertices" and "10000" in err.detail
    assert parse_geometry(mapping(circle), max_vertices=20_000).area > 0
    small = shapely.Point(X0, Y0).buffer(0.01, quad_segs=8)
    assert raises(mapping(small), max_vertices=10).extra["max_vertices"] == 10


def test_gcj02_input_is_densified_and_shifted_to_wgs84() -> None:
    box = shapely.box(X0, Y0, X0 + 0.02, Y0 + 0.02)
    as_gcj = geometry_from_wgs84(shapely.segmentize(box, 0.0005), "gcj02")
    back = parse_geometry(dict(mapping(as_gcj)), crs="GCJ-02")
    # the shift is hundreds of metres; the round trip is within a centimetre (1e-7°)
    assert shapely.hausdorff_distance(as_gcj, box) > 0.001
    assert shapely.hausdorff_distance(back, box) < 1e-7
    # a 4-click rectangle drawn on Amap is densified before the shift: many vertices come back
    four = parse_geometry(dict(mapping(geometry_from_wgs84(box, "gcj02"))), crs="gcj02")
    assert len(shapely.get_coordinates(four)) > 100


# -- pure: the shape among its neighbours --------------------------------------------------------


def _offset(geom: Any, metres: float) -> Any:
    proj = metric_projector(geom)
    return proj.to_lonlat(proj.to_metric(geom).buffer(metres, join_style="mitre"))


def test_the_metric_projection_equals_the_one_pyproj_resolves_from_the_crs() -> None:
    # the pipelines are written out (no PROJ database lookup per centre): they must be the
    # operation Transformer.from_crs picks for EPSG:4326 -> that aeqd, to the bit
    from pyproj import CRS, Transformer

    geom = shapely.box(X0, Y0, X0 + 0.05, Y0 + 0.04)
    proj = metric_projector(geom)
    c = geom.centroid
    local = CRS.from_proj4(
        f"+proj=aeqd +lat_0={round(c.y, 2)} +lon_0={round(c.x, 2)} +datum=WGS84 +units=m"
    )
    forward = Transformer.from_crs("EPSG:4326", local, always_xy=True)
    inverse = Transformer.from_crs(local, "EPSG:4326", always_xy=True)
    lon = np.linspace(X0 - 0.5, X0 + 0.5, 101)
    lat = np.linspace(Y0 - 0.5, Y0 + 0.5, 101)
    ours = np.array(proj.forward.transform(lon, lat))
    assert np.array_equal(ours, np.array(forward.transform(lon, lat)))
    assert np.array_equal(
        np.array(proj.inverse.transform(*ours)), np.array(inverse.transform(*ours))
    )


def test_tolerance_is_measured_in_metres_on_densified_edges() -> None:
    # a 5 km wide parent with two halves sharing a long straight lon/lat edge
    parent = shapely.box(X0, Y0, X0 + 0.05, Y0 + 0.04)
    west = shapely.box(X0, Y0, X0 + 0.025, Y0 + 0.04)
    east = shapely.box(X0 + 0.025, Y0, X0 + 0.05, Y0 + 0.04)
    ctx = GridContext(
        level=2,
        kind="general",
        district_adcode="610503",
        parent_code="610503001001",
        parent=parent,
        neighbours=(("610503001001002", east),),
    )
    assert check_placement(shapely.MultiPolygon([west]), ctx).area_m2 == pytest.approx(
        area_m2(west)
    )
    grown = _offset(west, 0.3)  # 0.3 m out of the parent and into the sibling: tolerated
    check_placement(shapely.MultiPolygon([grown]), ctx)
    too_big = _offset(west, 2.0)
    with pytest.raises(InvalidInputError) as info:
        check_placement(shapely.MultiPolygon([too_big]), ctx)
    assert info.value.extra["rule"] == "outside_parent"
    assert "lie outside it by more than 0.5 m" in info.value.detail
    inside_only = shapely.intersection(too_big, parent)
    with pytest.raises(InvalidInputError) as info:
        check_placement(shapely.MultiPolygon([inside_only]), ctx)
    assert info.value.extra["rule"] == "overlaps_sibling"
    assert info.value.extra["overlaps"][0]["code"] == "610503001001002"
    # the overlap is a 2 m strip along a 4.4 km edge
    assert info.value.extra["overlaps"][0]["area_m2"] == pytest.approx(2 * 4440, rel=0.02)


def test_fix_clip_cuts_to_the_parent_and_out_of_siblings_and_says_how_much() -> None:
    parent = shapely.box(X0, Y0, X0 + 0.01, Y0 + 0.01)
    sibling = shapely.box(X0 + 0.005, Y0, X0 + 0.01, Y0 + 0.01)
    ctx = GridContext(
        level=2,
        kind="general",
        district_adcode="610503",
        parent_code="p",
        parent=parent,
        neighbours=(("s", sibling),),
    )
    drawn = shapely.box(X0 - 0.002, Y0, X0 + 0.007, Y0 + 0.01)
    checked = check_placement(shapely.MultiPolygon([drawn]), ctx, fix="clip")
    expected = shapely.box(X0, Y0, X0 + 0.005, Y0 + 0.01)
    assert shapely.equals_exact(
        shapely.normalize(checked.geom.geoms[0]), shapely.normalize(expected), 1e-12
    )
    actions = {f["action"]: f for f in checked.fixes}
    assert actions["clipped_to"]["area_m2"] == pytest.approx(
        area_m2(shapely.box(X0 - 0.002, Y0, X0, Y0 + 0.01)), rel=1e-6
    )
    assert actions["removed_overlap"]["code"] == "s"
    assert actions["removed_overlap"]["area_m2"] == pytest.approx(
        area_m2(shapely.box(X0 + 0.005, Y0, X0 + 0.007, Y0 + 0.01)), rel=1e-6
    )


def test_outside_the_district_with_swapped_axes_says_so() -> None:
    # where lon and lat are both valid either way round (western China, lon < 90)
    district = shapely.box(80.0, 40.0, 80.5, 40.5)
    ctx = GridContext(level=1, kind="general", district_adcode="650000", district=district)
    swapped = poly((40.1, 80.1), (40.2, 80.1), (40.2, 80.2), (40.1, 80.1))
    with pytest.raises(InvalidInputError) as info:
        validate_grid_geometry(swapped, ctx)
    err = info.value
    assert err.extra["rule"] == "outside_district"
    assert err.extra["swapped_axes"] is True
    assert "latitude and longitude swapped" in err.detail


# -- through the API: 422, message, location, and nothing written ---------------------------------


def _post(client: TestClient, body: dict[str, Any] | str, **params: str) -> Any:
    if isinstance(body, str):
        return client.post(
            "/grids", content=body, params=params, headers={"Content-Type": "application/json"}
        )
    return client.post("/grids", json=body, params=params)


def _bad_geometries(leaf: Leaf) -> list[tuple[str, Any, str, str]]:
    """(id, geometry or raw JSON text, rule, words in the detail) — all under ``leaf``."""
    sq = inner_square(leaf.geom, 0.1)
    x0, y0, x1, y1 = sq.bounds
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    circle = shapely.Point(mx, my).buffer((x1 - x0) / 2, quad_segs=2500)
    sticking_out = shapely.box(
        mx, my, leaf.geom.bounds[2] + 0.001, my + (y1 - y0) / 2
    )  # reaches past the parent's east edge
    return [
        (
            "self-intersection",
            poly((x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)),
            "self_intersection",
            "Self-intersection at",
        ),
        (
            "unclosed",
            {"type": "Polygon", "coordinates": [ring((x0, y0), (x1, y0), (x1, y1), (x0, y1))]},
            "ring_not_closed",
            "not closed",
        ),
        (
            "too-short",
            {"type": "Polygon", "coordinates": [ring((x0, y0), (x1, y0), (x0, y0))]},
            "ring_too_short",
            "at least 4",
        ),
        (
            "spike",
            poly(
                (x0, y0),
                (x1, y0),
                (x1, y1),
                (mx, y1),
                (mx, y1 + 0.001),
                (mx, y1),
                (x0, y1),
                (x0, y0),
            ),
            "spike",
            "spike at",
        ),
        (
            "nan",
            f"[[[{x0}, {y0}], [NaN, {y0}], [{x1}, {y1}], [{x0}, {y0}]]]",
            "not_finite",
            "not a finite number",
        ),
        (
            "infinity",
            f"[[[{x0}, {y0}], [Infinity, {y0}], [{x1}, {y1}], [{x0}, {y0}]]]",
            "not_finite",
            "not a finite number",
        ),
        (
            "lon-range",
            poly((x0 + 100, y0), (x1 + 100, y0), (x1 + 100, y1), (x0 + 100, y0)),
            "out_of_range",
            "longitude [-180, 180]",
        ),
        ("swapped", poly((y0, x0), (y0, x1), (y1, x1), (y0, x0)), "out_of_range", "swap them"),
        ("empty", {"type": "Polygon", "coordinates": []}, "empty", "empty"),
        ("zero-area", poly((x0, y0), (mx, my), (x1, y1), (x0, y0)), "zero_area", "zero area"),
        (
            "collection",
            {"type": "GeometryCollection", "geometries": [mapping(sq)]},
            "not_polygonal",
            "GeometryCollection is not accepted",
        ),
        ("point", {"type": "Point", "coordinates": [mx, my]}, "not_polygonal", "not Point"),
        ("vertices", dict(mapping(circle)), "too_many_vertices", "cap of 10000"),
        (
            "outside-parent",
            dict(mapping(sticking_out)),
            "outside_parent",
            f"not within its parent grid {leaf.code}",
        ),
    ]


BAD_IDS = [
    "self-intersection",
    "unclosed",
    "too-short",
    "spike",
    "nan",
    "infinity",
    "lon-range",
    "swapped",
    "empty",
    "zero-area",
    "collection",
    "point",
    "vertices",
    "outside-parent",
]


@pytest.mark.parametrize("case", BAD_IDS)
def test_api_refuses_each_bad_boundary_with_422_and_writes_nothing(
    client: TestClient, leaf: Leaf, case: str
) -> None:
    (_, geometry, rule, words) = next(c for c in _bad_geometries(leaf) if c[0] == case)
    if isinstance(geometry, str):  # NaN/Infinity: only raw JSON text can carry them
        body: dict[str, Any] | str = (
            f'{{"type": "Feature", "properties": {{"name": "坏网格", "parent": "{leaf.code}"}}, '
            f'"geometry": {{"type": "Polygon", "coordinates": {geometry}}}}}'
        )
    else:
        body = feature(geometry, name="坏网格", parent=leaf.code)
    r = _post(client, body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["rule"] == rule, problem
    assert words in problem["detail"], problem["detail"]
    if rule not in ("empty", "not_polygonal", "too_many_vertices", "not_finite", "zero_area"):
        assert len(problem["location"]) == 2 and problem["crs"] == "wgs84"
    # nothing left behind: the leaf still has no child, and its first child code is free
    listing = client.get("/grids", params={"parent": leaf.code}).json()
    assert listing["numberMatched"] == 0
    assert client.get(f"/grids/{leaf.code}001").status_code == 404


def test_api_refuses_an_overlap_with_siblings_and_names_them(
    client: TestClient, leaf: Leaf
) -> None:
    before = client.get("/grids", params={"parent": leaf.parent}).json()["numberMatched"]
    r = _post(client, feature(inner_square(leaf.geom), name="叠加", parent=leaf.parent))
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["rule"] == "overlaps_sibling"
    assert leaf.code in problem["detail"]
    assert [o["code"] for o in problem["overlaps"]] == [leaf.code]
    assert problem["overlaps"][0]["area_m2"] > 0
    assert shapely.Point(problem["location"]).within(leaf.geom)
    after = client.get("/grids", params={"parent": leaf.parent}).json()["numberMatched"]
    assert after == before


def test_api_fix_clip_fits_the_boundary_instead_of_refusing(client: TestClient, leaf: Leaf) -> None:
    sq = inner_square(leaf.geom, 0.2)
    r = _post(client, feature(sq, name="甲", parent=leaf.code))
    assert r.status_code == 201, r.text
    first = r.json()["properties"]["code"]
    # spills out of the leaf on every side and over the first level-3 grid
    drawn = shapely.box(*shapely.buffer(leaf.geom, 0.002).bounds)
    r = _post(client, feature(drawn, name="乙", parent=leaf.code))
    assert r.status_code == 422 and r.json()["rule"] == "outside_parent"
    r = _post(client, feature(drawn, name="乙", parent=leaf.code), fix="clip")
    assert r.status_code == 201, r.text
    body = r.json()
    actions = {f["action"]: f for f in body["fixes"]}
    assert actions["clipped_to"]["area_m2"] > 0
    assert actions["removed_overlap"]["code"] == first
    assert actions["removed_overlap"]["area_m2"] == pytest.approx(area_m2(sq), rel=1e-6)
    got = shapely.geometry.shape(body["geometry"])
    assert area_m2(got) == pytest.approx(area_m2(leaf.geom) - area_m2(sq), rel=1e-6)


def test_level1_grid_outside_the_district_is_refused(client: TestClient) -> None:
    beijing = shapely.box(116.39, 39.90, 116.40, 39.91)
    r = _post(client, feature(beijing, name="外地", code="610503001199"))
    assert r.status_code == 422, r.text
    assert r.json()["rule"] == "outside_district"
    assert "not within district 610503" in r.json()["detail"]
    assert client.get("/grids/610503001199").status_code == 404


def test_level1_code_is_checked_and_only_level1_may_send_one(
    client: TestClient, leaf: Leaf
) -> None:
    sq = inner_square(leaf.geom)
    r = _post(client, feature(sq, name="x", code="610503001"))
    assert r.status_code == 422 and "12, 15 or 18 digits" in r.json()["detail"]
    r = _post(client, feature(sq, name="x", code=f"{leaf.code}001", parent=leaf.code))
    assert r.status_code == 422 and "issued by the server" in r.json()["detail"]


def test_dedicated_grid_must_lie_in_its_community(client: TestClient, leaf: Leaf) -> None:
    outside = shapely.box(109.0, 34.0, 109.001, 34.001)
    r = _post(
        client,
        feature(
            outside, name="学校", parent=leaf.parent, kind="dedicated", dedicated_type="school"
        ),
    )
    assert r.status_code == 422, r.text
    assert r.json()["rule"] == "outside_parent"
    # and overlapping general grids is fine for a dedicated grid
    r = _post(
        client,
        feature(
            inner_square(leaf.geom),
            name="学校",
            parent=leaf.parent,
            kind="dedicated",
            dedicated_type="school",
        ),
    )
    assert r.status_code == 201, r.text
    assert int(r.json()["properties"]["code"][-3:]) >= 900


def test_server_owned_and_unknown_properties(client: TestClient, leaf: Leaf) -> None:
    sq = inner_square(leaf.geom)
    body = feature(sq, name="三级", parent=leaf.code, version=99, valid_from="2000-01-01")
    r = _post(client, body)
    assert r.status_code == 201, r.text
    assert r.json()["properties"]["version"] == 1  # the client's version was ignored
    r = _post(client, feature(sq, name="x", parent=leaf.code, colour="red"))
    assert r.status_code == 422 and "colour" in r.json()["detail"]


def test_nan_json_is_parsed_not_crashed_on() -> None:
    assert math.isnan(json.loads("[NaN]")[0])  # what the server's JSON parser accepts
    assert np.isinf(json.loads("[Infinity]")[0])


# -- dedicated grids: one grid per entity type at a place --------------------------------------


def test_same_type_dedicated_overlap_is_refused_other_types_pass() -> None:
    parent = shapely.box(X0, Y0, X0 + 0.01, Y0 + 0.01)
    school = shapely.box(X0 + 0.001, Y0 + 0.001, X0 + 0.004, Y0 + 0.004)
    ctx = GridContext(
        level=2,
        kind="dedicated",
        district_adcode="610503",
        district=parent,
        parent_code="610503001001",
        parent=parent,
        neighbours=(("610503001001900", school),),
        dedicated_type="school",
    )
    drawn = shapely.MultiPolygon([shapely.box(X0 + 0.003, Y0 + 0.003, X0 + 0.006, Y0 + 0.006)])
    with pytest.raises(InvalidInputError) as info:
        check_placement(drawn, ctx)
    err = info.value
    assert err.extra["rule"] == "overlaps_same_type"
    assert "610503001001900" in err.detail and "school" in err.detail
    assert [o["code"] for o in err.extra["overlaps"]] == ["610503001001900"]
    # touching along an edge is not overlapping
    beside = shapely.MultiPolygon([shapely.box(X0 + 0.004, Y0 + 0.001, X0 + 0.006, Y0 + 0.004)])
    assert check_placement(beside, ctx).area_m2 > 0
    clipped = check_placement(drawn, ctx, fix="clip")
    assert clipped.fixes[0]["code"] == "610503001001900"
    assert shapely.intersection(clipped.geom, school).area < 1e-12  # an edge at most


def _school(conn_engine: Engine) -> tuple[str, str, Any]:
    from sqlalchemy import text

    with conn_engine.connect() as conn:
        row = conn.execute(
            text(
                """SELECT g.code, p.code AS parent, ST_AsBinary(v.geom) AS wkb FROM grids g
                   JOIN grids p ON p.id = g.parent_id
                   JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL
                   WHERE g.kind = 'dedicated' AND g.dedicated_type = 'school'
                     AND g.retired_at IS NULL
                   ORDER BY g.code LIMIT 1"""
            )
        ).one()
    return row.code, row.parent, shapely.from_wkb(bytes(row.wkb))


def test_api_refuses_a_second_school_over_a_school_and_accepts_a_park(
    client: TestClient, demo: Engine
) -> None:
    code, parent, geom = _school(demo)
    inside = inner_square(geom, 0.5)
    r = _post(
        client,
        feature(inside, name="第二学校", parent=parent, kind="dedicated", dedicated_type="school"),
    )
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["rule"] == "overlaps_same_type"
    assert code in problem["detail"] and code in [o["code"] for o in problem["overlaps"]]
    # a park (another entity type) may hold the school
    r = _post(
        client,
        feature(inside, name="公园", parent=parent, kind="dedicated", dedicated_type="park"),
    )
    assert r.status_code == 201, r.text
    park = r.json()["id"]
    # ... but it cannot become a school on top of the school
    r = client.patch(
        f"/grids/{park}",
        json={"type": "Feature", "properties": {"dedicated_type": "school"}},
        headers={"If-Match": f'"{park}-v1"'},
    )
    assert r.status_code == 422 and r.json()["rule"] == "overlaps_same_type", r.text
    assert code in r.json()["detail"]
