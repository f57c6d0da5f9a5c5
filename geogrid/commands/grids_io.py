"""CLI commands for grids_io."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the grids import/export commands to the top-level ``geogrid`` app."""
