"""The landing page (``GET /``): the district and its level-1 grids, drawn in a real browser
that cannot reach the internet.

The demo test is the one that matters to users (159 grids of Huazhou); the synthetic district
tests pin down which grids are shown and keep the page covered without the demo loader.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from api.main import create_app
from geogrid.maps.assets import render_html
from geogrid.maps.landing import landing_data, landing_map
from geogrid.settings import Settings
from geogrid.storage.models import AdminArea, Grid, GridRetirement, GridVersion
from tests import browser
from tests.browser import WatchedPage, serve_app

# Fixtures from tests/browser.py (assigned, not imported, so they are not unused imports).
chromium = browser.chromium
chromium_page = browser.chromium_page
live_server = browser.live_server

HUAZHOU = "610503"
# A made-up district per test process, so two sessions on one database do not collide.
SYNTHETIC = f"99{os.getpid() % 10000:04d}"
SYNTHETIC_NAME = "测试区<i>"  # the tag checks that names are escaped on the page
SHOWN = 9  # the 3 x 3 current general level-1 grids of the synthetic district


def _square(x: float, y: float, size: float) -> MultiPolygon:
    return MultiPolygon([box(x, y, x + size, y + size)])


def _add_grid(
    session: Session, adcode: str, serial: int, geom: MultiPolygon, **grid: object
) -> Grid:
    level = int(grid.pop("level", 1))  # type: ignore[call-overload]
    code = f"{adcode}{serial:06d}" + ("001" if level == 2 else "")
    row = Grid(code=code, district_adcode=adcode, level=level, **grid)
    row.versions.append(
        GridVersion(
            version=1, name=f"第{serial}网格", geom=from_shape(geom, srid=4326), area_m2=1.0e6
        )
    )
    session.add(row)
    session.flush()
    return row


def add_synthetic_district(session: Session, adcode: str) -> None:
    """A 3 x 3 km district cut into 9 level-1 grids, plus the grids the page must not show:
    a retired one, a level-2 one, a dedicated one, and a superseded version."""
    x0, y0, cell = 109.7, 34.45, 0.01
    session.add(
        AdminArea(
            code=adcode,
            name=SYNTHETIC_NAME,
            level="district",
            district_adcode=adcode,
            geom=from_shape(_square(x0, y0, 3 * cell), srid=4326),
        )
    )
    grids = [
        _add_grid(session, adcode, 3 * i + j + 1, _square(x0 + i * cell, y0 + j * cell, cell))
        for i in range(3)
        for j in range(3)
    ]
    # Grid 1 was redrawn: version 1 is history, version 2 is current.
    grids[0].versions[0].valid_to = func.now()
    grids[0].current_version = 2
    session.flush()
    grids[0].versions.append(
        GridVersion(
            version=2,
            name="第1网格",
            geom=from_shape(_square(x0, y0, cell), srid=4326),
            area_m2=1.0e6,
        )
    )
    tiny = _square(x0 + 0.001, y0 + 0.001, 0.002)
    # a retired grid, as the database requires one to be (migration 0011): its last version
    # ended when it was retired, and an open retirement row says so
    retired = _add_grid(session, adcode, 100, tiny, retired_at=func.now())
    retired.versions[0].valid_to = func.now()
    session.add(
        GridRetirement(
            grid_id=retired.id,
            version=1,
            operation="retire",
            retired_at=func.now(),
            retired_by="test",
        )
    )
    _add_grid(session, adcode, 1, tiny, level=2, parent_id=grids[0].id)
    _add_grid(session, adcode, 101, tiny, kind="dedicated", dedicated_type="school")
    session.flush()


def remove_district(session: Session, adcode: str) -> None:
    session.execute(
        text("DELETE FROM grids WHERE district_adcode = :a AND level > 1"), {"a": adcode}
    )
    session.execute(text("DELETE FROM grids WHERE district_adcode = :a"), {"a": adcode})
    session.execute(text("DELETE FROM admin_areas WHERE district_adcode = :a"), {"a": adcode})


@pytest.fixture
def synthetic_district(engine: Engine) -> Iterator[str]:
    """The synthetic district, committed (a live server reads it on its own connections)."""
    with Session(engine) as session, session.begin():
        remove_district(session, SYNTHETIC)
        add_synthetic_district(session, SYNTHETIC)
    try:
        yield SYNTHETIC
    finally:
        with Session(engine) as session, session.begin():
            remove_district(session, SYNTHETIC)


# --- without a browser -----------------------------------------------------------------------


def test_landing_shows_current_general_level1_grids(db: Session) -> None:
    add_synthetic_district(db, SYNTHETIC)

    data = landing_data(db, district_adcode=SYNTHETIC)

    assert data.district is not None
    assert data.district_name == SYNTHETIC_NAME
    assert [f["properties"]["code"] for f in data.grids] == [
        f"{SYNTHETIC}{n:06d}" for n in range(1, SHOWN + 1)
    ]
    html = render_html(landing_map(db, district_adcode=SYNTHETIC))
    assert "测试区&lt;i&gt;" in html and "测试区<i>" not in html
    assert "https://" not in html and "http://" not in html


def test_landing_page_without_data_says_so(engine: Engine, settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"district_adcode": "990999"}))
    with TestClient(app) as client:
        response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "尚无数据" in response.text and "990999" in response.text


# --- in Chromium -------------------------------------------------------------------------------


def _open_landing(
    watched: WatchedPage, url: str, *, paths: int, title: str, screenshot: Path
) -> None:
    """Load the page, wait until Leaflet has drawn ``paths`` SVG paths, check a tooltip."""
    page = watched.page
    page.goto(url, wait_until="load")
    page.wait_for_function("() => window.L !== undefined && typeof L.map === 'function'")
    page.wait_for_function(
        "n => document.querySelectorAll('path.leaflet-interactive').length >= n",
        arg=paths,
        timeout=20_000,
    )
    assert page.locator("path.leaflet-interactive").count() == paths
    assert page.title() == title
    page.locator("path.leaflet-interactive").last.hover(force=True)
    page.wait_for_selector(".leaflet-tooltip", timeout=5_000)
    assert "编码" in page.locator(".leaflet-tooltip").inner_text()
    page.screenshot(path=str(screenshot), full_page=True)
    watched.assert_clean()


def _current_level1_count(engine: Engine, adcode: str) -> int:
    query = (
        select(func.count())
        .select_from(Grid)
        .join(GridVersion, GridVersion.grid_id == Grid.id)
        .where(
            Grid.district_adcode == adcode,
            Grid.level == 1,
            Grid.kind == "general",
            Grid.retired_at.is_(None),
            GridVersion.valid_to.is_(None),
        )
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


@pytest.mark.browser
def test_landing_map_draws_the_demo_offline(
    demo: Engine, live_server: browser.LiveServer, chromium_page: WatchedPage, tmp_path: Path
) -> None:
    grids = _current_level1_count(demo, HUAZHOU)
    assert grids >= 159, "the Huazhou demo has 159 level-1 grids"

    _open_landing(
        chromium_page,
        live_server.url("/"),
        paths=grids + 1,  # and the district boundary
        title="华州区 网格 / geogrid",
        screenshot=tmp_path / "landing-huazhou.png",
    )


@pytest.mark.browser
def test_landing_map_draws_a_district_offline(
    synthetic_district: str, settings: Settings, chromium_page: WatchedPage, tmp_path: Path
) -> None:
    app = create_app(settings.model_copy(update={"district_adcode": synthetic_district}))
    with serve_app(app) as server:
        _open_landing(
            chromium_page,
            server.url("/"),
            paths=SHOWN + 1,
            title=f"{SYNTHETIC_NAME} 网格 / geogrid",
            screenshot=tmp_path / "landing-synthetic.png",
        )
        # Names are shown as text everywhere, never interpreted as HTML.
        assert (
            f"{SYNTHETIC_NAME}边界"
            in chromium_page.page.locator(".leaflet-control-layers").inner_text()
        )
        assert chromium_page.page.locator(".leaflet-container i").count() == 0
