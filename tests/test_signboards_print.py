"""``geogrid signboards print --street CODE --out FILE.pdf``: every signboard of a street in
one PDF, printed by Chromium, one page per grid."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.settings import Settings, get_settings

_PAGE = re.compile(rb"/Type\s*/Page(?![s\w])")


@pytest.fixture
def cli_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI reads its settings from the environment: point it at the test database."""
    monkeypatch.setenv("GEOGRID_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    try:
        yield
    finally:
        get_settings.cache_clear()


def _pages(pdf: bytes) -> int:
    """Pages of a PDF Chromium wrote (its page objects are plain dictionaries)."""
    return len(_PAGE.findall(pdf))


def test_a_street_prints_one_page_per_grid(
    engine: Engine, cli_settings: None, tmp_path: Path
) -> None:
    with engine.connect() as conn:
        street, grids = conn.execute(
            text(
                "SELECT left(code, 9) AS street, count(*) FROM grids "
                "WHERE retired_at IS NULL AND length(code) > 9 "
                "GROUP BY 1 ORDER BY count(*) LIMIT 1"
            )
        ).one()
    out = tmp_path / "street.pdf"
    result = CliRunner().invoke(
        app,
        ["signboards", "print", "--street", street, "--out", str(out), "--base-url", "http://gg"],
    )
    assert result.exit_code == 0, result.output
    assert f"{grids} signboards" in result.output
    pdf = out.read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert _pages(pdf) == grids


@pytest.mark.parametrize(
    ("street", "message"), [("61050", "not a street code"), ("610503099", "has no current grid")]
)
def test_a_wrong_street_is_refused(
    engine: Engine, cli_settings: None, tmp_path: Path, street: str, message: str
) -> None:
    out = tmp_path / "none.pdf"
    result = CliRunner().invoke(app, ["signboards", "print", "--street", street, "--out", str(out)])
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()
