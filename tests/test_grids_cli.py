"""``geogrid grids validate FILE``: the validation module from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from geogrid.cli import app


def test_validate_reports_each_feature_and_fails_on_a_bad_one(tmp_path: Path) -> None:
    good = [[109.77, 34.51], [109.78, 34.51], [109.78, 34.52], [109.77, 34.51]]
    bowtie = [[109.77, 34.51], [109.78, 34.52], [109.78, 34.51], [109.77, 34.52], [109.77, 34.51]]
    collection = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"name": "好"},
             "geometry": {"type": "Polygon", "coordinates": [good]}},
            {"type": "Feature", "properties": {"name": "坏"},
             "geometry": {"type": "Polygon", "coordinates": [bowtie]}},
        ],
    }  # fmt: skip
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(app, ["grids", "validate", str(path)])
    assert result.exit_code == 1, result.output
    assert "1 valid, 1 invalid" in result.output
    assert "Self-intersection" in result.output and "109.775" in result.output
    collection["features"].pop()
    path.write_text(json.dumps(collection), encoding="utf-8")
    assert CliRunner().invoke(app, ["grids", "validate", str(path)]).exit_code == 0
