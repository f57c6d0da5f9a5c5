"""CLI commands for maps."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the maps commands to the top-level geogrid app."""
