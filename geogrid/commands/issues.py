"""CLI commands for issues."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the issues commands to the top-level geogrid app."""
