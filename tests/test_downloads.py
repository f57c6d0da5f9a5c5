"""Exports are streamed (api/downloads.py): written row by row into a spooled temporary file,
then sent in chunks with their length. What arrives is what the in-memory exports held: the
ledger byte for byte against the implementation that built the whole CSV in a string (kept
below as the reference), cell for cell in XLSX; the grid files byte for byte (or feature for
feature where the format stamps the time) against ``export_to_bytes``."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from api.downloads import SPOOL_BYTES
from geogrid.grids.io_export import export_to_bytes
from geogrid.grids.io_formats import read_features
from geogrid.issues.ledger import COLUMNS, LedgerFilter, _cell, ledger_rows
from geogrid.settings import Settings
from tests.rolled_back import rolled_back_app


def _csv_in_memory(rows: Iterator[dict[str, Any]]) -> str:
    """The ledger CSV as it was built before exports were streamed: in one string."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow([label for _, label in COLUMNS])
    for row in rows:
        writer.writerow([_cell(row[key]) for key, _ in COLUMNS])
    return buffer.getvalue()


def _xlsx_in_memory(rows: Iterator[dict[str, Any]]) -> bytes:
    """The ledger XLSX as it was built before: a whole workbook in memory."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "问题台账"
    sheet.append([label for _, label in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([_cell(row[key]) for key, _ in COLUMNS])
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def ledger_api(
    settings: Settings, demo: Engine, demo_clock: datetime, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, Session]]:
    """The app as the admin and a session in its rolled-back transaction, both at the demo's
    clock (the overdue column depends on the time)."""
    import api.routers.issues as issues_router

    monkeypatch.setattr(issues_router, "_now", lambda: demo_clock)
    with rolled_back_app(settings, demo) as (client, conn, _):
        db = Session(bind=conn, join_transaction_mode="create_savepoint")
        try:
            yield client, db
        finally:
            db.close()


def test_the_whole_ledger_streams_as_the_csv_built_in_memory(
    ledger_api: tuple[TestClient, Session], demo_clock: datetime
) -> None:
    client, db = ledger_api
    with client.stream("GET", "/issues/export", params={"format": "csv"}) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        assert answer.headers["content-disposition"] == 'attachment; filename="issues.csv"'
        chunks = list(answer.iter_raw())
    body = b"".join(chunks)
    assert int(answer.headers["content-length"]) == len(body)
    assert len(body) > SPOOL_BYTES and len(chunks) > 1  # spilled to disk, sent in pieces
    expected = _csv_in_memory(ledger_rows(db, LedgerFilter(), now=demo_clock))
    assert body == expected.encode("utf-8")


def test_the_ledger_streams_as_the_xlsx_built_in_memory(
    ledger_api: tuple[TestClient, Session], demo_clock: datetime
) -> None:
    client, db = ledger_api
    grid = db.execute(text("SELECT left(min(code), 9) FROM grids WHERE level = 1")).scalar_one()
    answer = client.get("/issues/export", params={"format": "xlsx", "grid": grid})
    assert answer.status_code == 200, answer.text
    assert int(answer.headers["content-length"]) == len(answer.content)
    streamed = load_workbook(io.BytesIO(answer.content))
    reference = load_workbook(
        io.BytesIO(_xlsx_in_memory(ledger_rows(db, LedgerFilter(grid_code=grid), now=demo_clock)))
    )
    got, want = streamed.active, reference.active
    assert got is not None and want is not None
    assert (got.title, got.freeze_panes) == (want.title, want.freeze_panes) == ("问题台账", "A2")
    assert all(cell.font.b for cell in got[1])
    got_rows = [list(r) for r in got.iter_rows(values_only=True)]
    assert got_rows == [list(r) for r in want.iter_rows(values_only=True)]
    assert len(got_rows) > 100


def _members(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.mark.parametrize("fmt", ["geojson", "csv", "kml", "gpkg", "shp"])
def test_grid_files_stream_as_the_export_held_in_memory(
    client: TestClient, db: Session, fmt: str, tmp_path: Path
) -> None:
    answer = client.get("/grids/export", params={"format": fmt, "level": 2})
    assert answer.status_code == 200, answer.text
    assert int(answer.headers["content-length"]) == len(answer.content)
    expected, _ = export_to_bytes(db, fmt=fmt, level=2)
    if fmt in ("geojson", "csv", "kml"):
        assert answer.content == expected
        return
    # GeoPackage and the Shapefile's .dbf stamp the time they were written: compare what they hold
    suffix = ".zip" if fmt == "shp" else ".gpkg"
    got, want = tmp_path / f"got{suffix}", tmp_path / f"want{suffix}"
    got.write_bytes(answer.content)
    want.write_bytes(expected)
    if fmt == "shp":
        a, b = _members(answer.content), _members(expected)
        assert sorted(a) == sorted(b)
        assert all(a[n] == b[n] for n in a if not n.endswith(".dbf"))
    read_got, read_want = read_features(got), read_features(want)
    assert len(read_got.features) == len(read_want.features) > 1000
    assert [(f.properties, f.geometry) for f in read_got.features] == [
        (f.properties, f.geometry) for f in read_want.features
    ]
