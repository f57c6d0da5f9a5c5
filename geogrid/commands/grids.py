"""CLI commands for grids."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the grids commands to the top-level geogrid app."""
