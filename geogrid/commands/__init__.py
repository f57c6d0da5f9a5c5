"""CLI command groups, one module per concern; each exposes ``register(app)``.

:mod:`geogrid.cli` calls every module's ``register`` so that concerns add commands without
editing one shared file.
"""

from __future__ import annotations

import typer

__all__ = ["register_all"]

MODULES = (
    "grids",
    "grids_io",
    "proposals",
    "locate",
    "issues",
    "maps",
    "districts",
    "analysis",
    "access",
    "signboards",
)


def register_all(app: typer.Typer) -> None:
    from importlib import import_module

    for name in MODULES:
        module = import_module(f"geogrid.commands.{name}")
        module.register(app)
