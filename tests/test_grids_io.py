"""Grid import/export: formats, encodings, the dry-run report, all-or-nothing, and the round
trip of the whole demo district through every format into an empty database.

The round trip needs a database of its own, with PostGIS, which only a superuser can install
(PostgreSQL 15 does not trust the extension). scripts/test therefore prepares a template
database with PostGIS (``geogrid_template_postgis``, flagged IS_TEMPLATE) that the owner role,
which has CREATEDB, clones into ``<test db>_rt``; without the template the fixture falls back to
a superuser (``GEOGRID_TEST_SUPERUSER_URL``, or ``postgres`` on the test host). The database is
dropped afterwards. Neither being available is a failure, not a skip.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from geogrid.errors import InvalidInputError
from geogrid.grids.io_export import export_grids, export_rows
from geogrid.grids.io_formats import GridFormat, detect_dbf_encoding, read_features
from geogrid.grids.io_plan import FieldMapping, ImportRefusedError
from geogrid.grids.io_write import import_grids
from geogrid.grids.validation import area_m2
from geogrid.settings import Settings
from geogrid.storage.database import create_db_engine
from geogrid.storage.models import Grid, GridVersion
from tests.scratch import creator_engine, on_database

DEMO_GRIDS = 1921
L1 = "610503001001"  # a community of 华州街道 with level-2 children


# --- helpers -----------------------------------------------------------------------------------


def _write_geojson(path: Path, features: list[dict]) -> Path:
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
        encoding="utf-8",
    )
    return path


def _feature(code: str, name: str, geom: shapely.Geometry, **props: object) -> dict:
    return {
        "type": "Feature",
        "properties": {"code": code, "name": name, **props},
        "geometry": shapely.geometry.mapping(geom),
    }


def _children(session: Session, parent: str) -> dict[str, shapely.Geometry]:
    rows, geoms = export_rows(session, level=2)
    return {
        r["code"]: g
        for r, g in zip(rows, geoms, strict=True)
        if r["parent"] == parent and r["kind"] == "general"
    }


# --- pure format tests -------------------------------------------------------------------------


def test_format_parse_names_the_choices() -> None:
    assert GridFormat.parse(None, Path("a.GPKG")) is GridFormat.GPKG
    assert GridFormat.parse("shapefile") is GridFormat.SHP
    assert GridFormat.parse(None, Path("grids.zip")) is GridFormat.SHP
    with pytest.raises(InvalidInputError, match="geojson, gpkg, shp"):
        GridFormat.parse("dxf")


def test_field_mapping_parse_and_errors() -> None:
    mapping = FieldMapping.parse("name=网格名称, code=BM ,parent=SJBM,level=JB")
    assert mapping == FieldMapping(name="网格名称", code="BM", parent="SJBM", level="JB")
    with pytest.raises(InvalidInputError, match="keys are name, code, parent, level"):
        FieldMapping.parse("title=MC")
    with pytest.raises(InvalidInputError, match="only: BM, MC"):
        FieldMapping(code="CODE").resolve(["BM", "MC"])


def test_gbk_shapefile_without_cpg_is_detected(tmp_path: Path) -> None:
    import geopandas as gpd
    import pyogrio

    frame = gpd.GeoDataFrame(
        {"code": ["610503001001"], "name": ["莲池社区网格"]},
        geometry=[shapely.box(109.7, 34.5, 109.71, 34.51)],
        crs="EPSG:4326",
    )
    pyogrio.write_dataframe(frame, tmp_path / "gbk.shp", encoding="GBK")
    pyogrio.write_dataframe(frame, tmp_path / "utf.shp", encoding="UTF-8")
    (tmp_path / "gbk.cpg").unlink()
    (tmp_path / "utf.cpg").unlink()
    assert detect_dbf_encoding(tmp_path / "gbk.dbf") == "gbk"
    assert detect_dbf_encoding(tmp_path / "utf.dbf") == "utf-8"
    for stem, encoding in (("gbk", "gbk"), ("utf", "utf-8")):
        data = read_features(tmp_path / f"{stem}.shp")
        assert data.encoding == encoding and data.encoding_source == "detected"
        assert data.features[0].properties["name"] == "莲池社区网格"


def test_csv_with_wkt_and_chinese_headers_in_gcj02(tmp_path: Path) -> None:
    from geogrid.spatial.crs import geometry_from_wgs84

    box = shapely.box(109.7, 34.5, 109.71, 34.51)
    gcj = geometry_from_wgs84(box, "gcj02", max_segment=0.0005)  # as Amap draws it
    path = tmp_path / "grids.csv"
    path.write_text(f'网格编码,网格名称,WKT\n610503001001,莲池,"{gcj.wkt}"\n', encoding="utf-8-sig")
    data = read_features(path, crs="gcj02")
    feature = data.features[0]
    assert feature.properties["网格名称"] == "莲池"
    assert area_m2(shapely.symmetric_difference(feature.geometry, box)) < 1.0


# --- planning and committing against the demo --------------------------------------------------


def test_dry_run_reports_create_update_unchanged_and_refusals_with_locations(
    demo: Engine, db: Session, tmp_path: Path
) -> None:
    kids = _children(db, L1)
    codes = sorted(kids)
    first, second, third = codes[0], codes[1], codes[2]
    parent_geom = shapely.from_wkb(
        db.scalar(
            select(GridVersion.geom.ST_AsBinary())
            .join(Grid, Grid.id == GridVersion.grid_id)
            .where(Grid.code == L1, GridVersion.valid_to.is_(None))
        )
    )
    outside = shapely.box(
        parent_geom.bounds[2] - 0.0005,
        parent_geom.bounds[1],
        parent_geom.bounds[2] + 0.01,
        parent_geom.bounds[3],
    )
    bowtie = shapely.Polygon([(109.70, 34.50), (109.71, 34.51), (109.71, 34.50), (109.70, 34.51)])
    features = [
        _feature(first, "改名后的网格", kids[first]),  # update: a new name
        _feature(
            second,
            db.scalar(
                select(GridVersion.name)
                .join(Grid, Grid.id == GridVersion.grid_id)
                .where(Grid.code == second, GridVersion.valid_to.is_(None))
            ),
            kids[second],
        ),  # unchanged
        _feature(f"{L1}890", "越界网格", outside),  # outside the parent
        _feature(f"{L1}891", "重叠网格", kids[third].buffer(-0.0002)),  # overlaps `third`
        _feature(f"{L1}892", "自交网格", bowtie),  # self-intersection
        _feature("6105030010019", "坏编码", kids[first]),  # bad code
        _feature(first, "重复", kids[first]),  # duplicate code
    ]
    source = read_features(_write_geojson(tmp_path / "plan.geojson", features))
    report = import_grids(db, source, dry_run=True)
    by_index = {f.index: f for f in report.features}
    assert by_index[1].action == "update"
    assert by_index[2].action == "unchanged"
    assert [by_index[i].action for i in (3, 4, 5, 6, 7)] == ["refused"] * 5
    assert "not within its parent grid" in by_index[3].reasons[0]["message"]
    assert by_index[3].reasons[0]["location"] is not None
    assert shapely.Point(by_index[3].reasons[0]["location"]).within(outside.buffer(1e-6))
    assert third in by_index[4].reasons[0]["message"] and by_index[4].reasons[0]["location"]
    assert "Self-intersection" in by_index[5].reasons[0]["message"]
    lon, lat = by_index[5].reasons[0]["location"]
    assert abs(lon - 109.705) < 1e-6 and abs(lat - 34.505) < 1e-6
    assert "12, 15 or 18 digits" in by_index[6].reasons[0]["message"]
    assert "appears twice" in by_index[7].reasons[0]["message"]
    assert report.counts == {"create": 0, "update": 1, "unchanged": 1, "refused": 5}
    assert not report.committed


def test_commit_is_all_or_nothing(demo: Engine, db: Session, tmp_path: Path) -> None:
    kids = _children(db, L1)
    first, third = sorted(kids)[0], sorted(kids)[2]
    before = db.scalar(select(Grid.current_version).where(Grid.code == first))
    features = [
        _feature(first, "改名后的网格", kids[first]),
        _feature(f"{L1}893", "重叠网格", kids[third].buffer(-0.0002)),
    ]
    source = read_features(_write_geojson(tmp_path / "bad.geojson", features))
    with pytest.raises(
        ImportRefusedError, match="1 of 2 features refused, nothing was written"
    ) as err:
        import_grids(db, source, dry_run=False)
    assert err.value.status == 422
    assert err.value.extra["report"]["counts"]["refused"] == 1
    assert db.scalar(select(Grid.current_version).where(Grid.code == first)) == before
    assert db.scalar(select(Grid.id).where(Grid.code == f"{L1}893")) is None

    # The same file without the bad feature goes in, as a new version with the new name.
    source = read_features(_write_geojson(tmp_path / "good.geojson", features[:1]))
    report = import_grids(db, source, dry_run=False, actor="test")
    assert report.committed and report.counts["update"] == 1
    row = db.execute(
        select(GridVersion.name, GridVersion.version, GridVersion.changed_by)
        .join(Grid, Grid.id == GridVersion.grid_id)
        .where(Grid.code == first, GridVersion.valid_to.is_(None))
    ).one()
    assert tuple(row) == ("改名后的网格", before + 1, "test")


def test_redrawing_two_neighbours_in_one_file_checks_the_final_state(
    demo: Engine, db: Session, tmp_path: Path
) -> None:
    """Move the shared edge of two siblings: each new shape overlaps the other's old one."""
    kids = _children(db, L1)
    parents_of_level3 = {r["parent"] for r in export_rows(db, level=3)[0]}
    a, b = next(
        (x, y)
        for x in sorted(kids)
        for y in sorted(kids)
        if x < y and not {x, y} & parents_of_level3 and kids[x].intersection(kids[y]).length > 1e-4
    )
    strip = kids[b].intersection(kids[a].buffer(0.0003))  # a strip of b along the shared edge
    new_a = shapely.union(kids[a], strip)
    new_b = shapely.difference(kids[b], strip)
    alone = read_features(_write_geojson(tmp_path / "a.geojson", [_feature(a, "甲", new_a)]))
    assert import_grids(db, alone, dry_run=True).features[0].action == "refused"
    both = read_features(
        _write_geojson(
            tmp_path / "ab.geojson", [_feature(a, "甲", new_a), _feature(b, "乙", new_b)]
        )
    )
    report = import_grids(db, both, dry_run=True)
    assert [f.action for f in report.features] == ["update", "update"], [
        f.reasons for f in report.features
    ]


def test_cli_import_dry_run_and_export(
    demo: Engine, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geogrid.cli import app
    from geogrid.settings import get_settings

    monkeypatch.setenv("GEOGRID_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = tmp_path / "level3.kml"
        result = runner.invoke(app, ["grids", "export", str(out), "--level", "3"])
        assert result.exit_code == 0, result.output
        assert out.read_text(encoding="utf-8").count("<Placemark") == 72
        result = runner.invoke(
            app, ["grids", "import", str(out), "--dry-run", "--map", "name=Name,code=code"]
        )
        assert result.exit_code == 0, result.output
        assert "72 features: would be 0 create, 0 update, 72 unchanged, 0 refused" in result.output
    finally:
        get_settings.cache_clear()


# --- the round trip into an empty database -----------------------------------------------------


def _superuser_url(test_url: str) -> str:
    explicit = os.environ.get("GEOGRID_TEST_SUPERUSER_URL")
    if explicit:
        return explicit
    url = make_url(test_url)
    return url.set(username="postgres", password=None, database="postgres").render_as_string(
        hide_password=False
    )


def _create_with_superuser(settings: Settings, name: str) -> Engine:
    """Create ``name`` with PostGIS as a superuser; the engine it returns can drop it again."""
    owner = make_url(settings.owner_database_url).username
    admin_url = _superuser_url(settings.database_url)
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}" OWNER "{owner}" TEMPLATE template0'))
    except Exception as exc:
        pytest.fail(
            f"the round-trip test needs the PostGIS template database (scripts/test makes it) or "
            f"a PostgreSQL superuser ({admin_url!r}: {exc}). Set GEOGRID_TEST_SUPERUSER_URL.",
            pytrace=False,
        )
    fresh_admin = create_engine(
        make_url(admin_url).set(database=name).render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    with fresh_admin.connect() as conn:
        conn.execute(text("CREATE EXTENSION postgis"))
    fresh_admin.dispose()
    return admin


@pytest.fixture(scope="module")
def empty_settings(settings: Settings, engine: Engine) -> Iterator[Settings]:
    """A fresh migrated database with PostGIS and no data, dropped afterwards."""
    from geogrid.storage.migrate import upgrade

    name = f"{make_url(settings.database_url).database}_rt"
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


def _grids_of(engine: Engine) -> dict[str, tuple[str, shapely.Geometry, int, str | None]]:
    with Session(engine) as session:
        rows, geoms = export_rows(session)
    return {
        r["code"]: (r["name"], g, r["level"], r["parent"]) for r, g in zip(rows, geoms, strict=True)
    }


ROUND_TRIPS = [
    ("geojson", "utf-8", False),
    ("gpkg", "utf-8", False),
    ("shp", "utf-8", False),
    ("shp", "gbk", True),  # GBK attributes, .cpg removed: the encoding is detected
    ("kml", "utf-8", False),
    ("csv", "utf-8", False),
]


@pytest.mark.parametrize(
    ("fmt", "encoding", "drop_cpg"),
    ROUND_TRIPS,
    ids=[f"{f}-{e}{'-nocpg' if d else ''}" for f, e, d in ROUND_TRIPS],
)
def test_round_trip_into_an_empty_database(
    demo: Engine,
    empty_settings: Settings,
    tmp_path: Path,
    fmt: str,
    encoding: str,
    drop_cpg: bool,
) -> None:
    with Session(demo) as session:
        exported = export_grids(
            session, tmp_path / "out", fmt=fmt, encoding=encoding, district_adcode="610503"
        )
    source_path = exported
    if fmt == "shp":
        unpacked = tmp_path / "unpacked"
        with zipfile.ZipFile(exported) as archive:
            archive.extractall(unpacked)
            names = archive.namelist()
        assert "grids.cpg" in names
        assert (unpacked / "grids.cpg").read_text().strip().upper() == encoding.upper()
        if drop_cpg:
            (unpacked / "grids.cpg").unlink()
            source_path = unpacked / "grids.shp"

    target = create_db_engine(empty_settings)
    owner = create_db_engine(empty_settings.as_owner())
    try:
        with owner.begin() as conn:  # empty again: each format starts from nothing
            conn.execute(
                text("TRUNCATE grid_versions, grids, admin_areas RESTART IDENTITY CASCADE")
            )
        source = read_features(source_path)
        assert len(source.features) == DEMO_GRIDS
        if drop_cpg:
            assert (source.encoding, source.encoding_source) == ("gbk", "detected")
        with Session(target) as session:
            report = import_grids(
                session, source, dry_run=False, boundaries_dir=empty_settings.boundaries_dir
            )
            session.commit()
        assert report.counts == {"create": DEMO_GRIDS, "update": 0, "unchanged": 0, "refused": 0}
        assert report.districts_created == ["610503"]

        original = _grids_of(demo)
        imported = _grids_of(target)
        assert sorted(imported) == sorted(original)
        worst = 0.0
        for code, (name, geom, level, parent) in original.items():
            new_name, new_geom, new_level, new_parent = imported[code]
            assert (new_name, new_level, new_parent) == (name, level, parent), code
            worst = max(worst, area_m2(shapely.symmetric_difference(geom, new_geom)))
        assert worst < 1.0, f"{fmt}: a grid moved by {worst:.3f} m²"
        with Session(target) as session:
            kinds = dict(
                session.execute(text("SELECT kind, count(*) FROM grids GROUP BY kind")).all()
            )
            entity = session.scalar(
                text(
                    "SELECT v.attributes->>'entity' FROM grids g JOIN grid_versions v ON v.grid_id = g.id "
                    "WHERE g.kind = 'dedicated' ORDER BY g.code LIMIT 1"
                )
            )
        assert kinds == {"general": DEMO_GRIDS - 245, "dedicated": 245}
        assert entity and all("\u4e00" <= ch <= "\u9fff" for ch in entity)
    finally:
        target.dispose()
        owner.dispose()
        shutil.rmtree(tmp_path / "out", ignore_errors=True)


# --- the API -----------------------------------------------------------------------------------


def test_api_export_formats(demo: Engine, client: TestClient) -> None:
    geojson = client.get("/grids/export", params={"format": "geojson", "level": 1})
    assert geojson.status_code == 200, geojson.text
    assert geojson.headers["content-type"] == "application/geo+json"
    assert 'filename="grids-level1.geojson"' in geojson.headers["content-disposition"]
    assert len(geojson.json()["features"]) == 159

    shp = client.get("/grids/export", params={"format": "shp", "level": 3, "encoding": "gbk"})
    assert shp.status_code == 200 and shp.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(shp.content)) as archive:
        assert {"grids.shp", "grids.dbf", "grids.shx", "grids.prj", "grids.cpg"} <= set(
            archive.namelist()
        )
        assert archive.read("grids.cpg").decode().strip().upper() == "GBK"

    past = client.get("/grids/export", params={"format": "csv", "at": "2000-01-01"})
    assert past.status_code == 200 and past.text.splitlines()[0].startswith("WKT,code,name")
    assert len(past.text.splitlines()) == 1  # nothing was drawn in 2000
    assert client.get("/grids/export", params={"format": "dxf"}).status_code == 422


def test_api_import_dry_run_refusal_and_commit(
    demo: Engine, client: TestClient, db: Session
) -> None:
    kids = _children(db, L1)
    first, third = sorted(kids)[0], sorted(kids)[2]
    good = [_feature(first, "接口改名", kids[first])]
    bad = [*good, _feature(f"{L1}894", "重叠", kids[third].buffer(-0.0002))]

    def upload(features: list[dict], **form: str) -> httpx.Response:
        body = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
        return client.post(
            "/grids/import",
            files={"file": ("网格.geojson", body.encode(), "application/geo+json")},
            data=form,
            headers={"X-Actor": "api-test"},
        )

    dry = upload(bad)
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert report["dry_run"] and not report["committed"]
    assert [f["action"] for f in report["features"]] == ["update", "refused"]
    assert report["features"][1]["reasons"][0]["location"]

    refused = upload(bad, dry_run="false")
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["report"]["counts"]["refused"] == 1

    committed = upload(good, dry_run="false")
    assert committed.status_code == 200 and committed.json()["committed"]
    grid = client.get(f"/grids/{first}").json()
    assert grid["properties"]["name"] == "接口改名"

    mapped = client.post(
        "/grids/import",
        files={"file": ("a.csv", b"BM,MC,WKT\n", "text/csv")},
        data={"mapping": "code=编码"},
    )
    assert mapped.status_code == 422 and "编码" in mapped.json()["detail"]
    shp = client.post("/grids/import", files={"file": ("a.shp", b"x", "application/octet-stream")})
    assert shp.status_code == 422 and ".zip" in shp.json()["detail"]
