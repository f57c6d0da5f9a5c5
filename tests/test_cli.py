"""Every CLI command answers --help."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from geogrid.cli import app


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["up"],
        ["serve"],
        ["db"],
        ["db", "migrate"],
        ["demo"],
        ["demo", "load"],
        ["signboards", "print"],
    ],
)
def test_help(args: list[str]) -> None:
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
