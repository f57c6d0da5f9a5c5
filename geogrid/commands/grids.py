"""CLI commands for grids: ``geogrid grids validate FILE``.

Import and export live in :mod:`geogrid.commands.grids_io`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

console = Console()

_HELP = "Grid boundaries: create, edit, import, export."


def _features(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        return list(data.get("features") or [])
    if isinstance(data, dict) and data.get("type") == "Feature":
        return [data]
    return [{"type": "Feature", "geometry": data, "properties": {}}]


def validate(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A GeoJSON file."),
    crs: str = typer.Option("EPSG:4326", help="Coordinate system of the file."),
    max_vertices: int = typer.Option(10_000, help="Vertex cap per boundary."),
) -> None:
    """Check every boundary in FILE on its own (validity, ranges, vertex cap), with no database:
    one line per feature, the fault and where it is. Exit status 1 if any fails."""
    from geogrid.errors import InvalidInputError
    from geogrid.grids.geojson import crs_name
    from geogrid.grids.validation import area_m2, parse_geometry

    data = json.loads(file.read_text(encoding="utf-8"))
    system = crs_name(data.get("crs")) if isinstance(data, dict) else None
    failed = 0
    features = _features(data)
    for i, feat in enumerate(features):
        label = (feat.get("properties") or {}).get("code") or (feat.get("properties") or {}).get(
            "name"
        )
        label = f"#{i} {label}" if label else f"#{i}"
        try:
            geom = parse_geometry(
                feat.get("geometry"), crs=system or crs, max_vertices=max_vertices
            )
        except InvalidInputError as exc:
            failed += 1
            console.print(f"[red]✗ {label}[/red] {exc.detail}")
        else:
            console.print(f"[green]✓ {label}[/green] {area_m2(geom):,.1f} m²")
    console.print(f"{len(features) - failed} valid, {failed} invalid")
    if failed:
        raise typer.Exit(1)


def _group(app: typer.Typer) -> typer.Typer:
    """The ``grids`` sub-app, shared with :mod:`geogrid.commands.grids_io` (either may make it)."""
    for info in app.registered_groups:
        if info.name == "grids" and isinstance(info.typer_instance, typer.Typer):
            return info.typer_instance
    group = typer.Typer(help=_HELP, no_args_is_help=True)
    app.add_typer(group, name="grids")
    return group


def register(app: typer.Typer) -> None:
    """Add the grids commands to the top-level geogrid app."""
    _group(app).command("validate")(validate)
