"""CLI commands for locate."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the locate commands to the top-level geogrid app."""
