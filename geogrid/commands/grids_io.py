"""``geogrid grids import`` and ``geogrid grids export``.

Both go into the ``grids`` command group, created here or reused when
:mod:`geogrid.commands.grids` made it first (the modules register in either order).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["grids_group", "register"]

console = Console(stderr=True)
_HELP = "Grid boundaries: create, edit, import, export."
#: Files with more features than this get a progress bar.
PROGRESS_THRESHOLD = 200


def grids_group(app: typer.Typer) -> typer.Typer:
    """The ``grids`` sub-app of ``app``, added if no module has added it yet."""
    for info in app.registered_groups:
        if info.name == "grids" and isinstance(info.typer_instance, typer.Typer):
            return info.typer_instance
    group = typer.Typer(help=_HELP, no_args_is_help=True)
    app.add_typer(group, name="grids")
    return group


def _report_table(report: dict[str, object], limit: int = 50) -> Table:
    table = Table(title="refused features" if report.get("committed") is False else None)
    for column in ("#", "code", "name", "action", "why / where"):
        table.add_column(column)
    features = report.get("features", [])
    assert isinstance(features, list)
    shown = [f for f in features if f["action"] == "refused"] or features
    for f in shown[:limit]:
        why = "; ".join(
            r["message"] + (f" @ {r['location'][0]}, {r['location'][1]}" if r["location"] else "")
            for r in f["reasons"]
        )
        table.add_row(str(f["feature"]), f["code"] or "", f["name"] or "", f["action"], why)
    if len(shown) > limit:
        table.caption = f"… and {len(shown) - limit} more"
    return table


def register(app: typer.Typer) -> None:
    """Add ``grids import`` and ``grids export`` to the ``geogrid`` app."""
    group = grids_group(app)

    @group.command("import")
    def import_command(
        file: Path = typer.Argument(
            ..., help="GeoJSON, GeoPackage, Shapefile (.shp or .zip), KML or CSV with a WKT column."
        ),
        format: str | None = typer.Option(
            None, "--format", help="geojson|gpkg|shp|kml|csv (default: from the suffix)."
        ),
        map: str | None = typer.Option(
            None,
            "--map",
            help="Columns: name=COL,code=COL,parent=COL,level=COL (default: recognised by name).",
        ),
        dry_run: bool = typer.Option(False, "--dry-run", help="Check and report; write nothing."),
        crs: str | None = typer.Option(
            None,
            "--crs",
            help="Coordinates of the file when it does "
            "not say or lies: gcj02, bd09, EPSG:4490, EPSG:4546...",
        ),
        encoding: str | None = typer.Option(
            None,
            "--encoding",
            help="Attribute encoding (default: the .cpg, else detected UTF-8/GBK).",
        ),
        report_json: Path | None = typer.Option(
            None, "--report", help="Write the per-feature report as JSON here."
        ),
    ) -> None:
        """Import grids from FILE: all of them, or (if any is refused) none."""
        import json

        from geogrid.errors import GeogridError
        from geogrid.grids.io_formats import read_features
        from geogrid.grids.io_plan import FieldMapping, ImportRefusedError
        from geogrid.grids.io_write import import_grids
        from geogrid.settings import get_settings
        from geogrid.storage.database import create_db_engine, make_session_factory

        settings = get_settings()
        try:
            mapping = FieldMapping.parse(map)
            source = read_features(file, format, encoding=encoding, crs=crs)
        except GeogridError as exc:
            console.print(f"[red]{exc.detail}[/red]")
            raise typer.Exit(2) from None
        if source.encoding:
            console.print(f"attributes read as {source.encoding} ({source.encoding_source})")
        engine = create_db_engine(settings)
        n = len(source.features)
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=n < PROGRESS_THRESHOLD,
        )
        try:
            with progress, make_session_factory(engine)() as session:
                task = progress.add_task(
                    f"{'checking' if dry_run else 'importing'} {n}", total=n if dry_run else 2 * n
                )
                try:
                    report = import_grids(
                        session,
                        source,
                        mapping=mapping,
                        dry_run=dry_run,
                        boundaries_dir=settings.boundaries_dir,
                        tolerance_m=settings.geometry_tolerance_m,
                        actor="cli import",
                        progress=lambda k: progress.advance(task, k),
                    )
                except ImportRefusedError as exc:
                    session.rollback()
                    data = exc.extra["report"]
                    progress.stop()
                    console.print(_report_table(data))
                    console.print(f"[red]{exc.detail}[/red]")
                    if report_json:
                        report_json.write_text(json.dumps(data, ensure_ascii=False, indent=1))
                    raise typer.Exit(1) from None
                except GeogridError as exc:
                    session.rollback()
                    console.print(f"[red]{exc.detail}[/red]")
                    raise typer.Exit(2) from None
                session.commit()
        finally:
            engine.dispose()
        data = report.to_dict()
        if report_json:
            report_json.write_text(json.dumps(data, ensure_ascii=False, indent=1))
        if dry_run and report.refused:
            console.print(_report_table(data))
        counts = ", ".join(f"{v} {k}" for k, v in report.counts.items())
        verb = "would be" if dry_run else "written:"
        console.print(f"{n} features: {verb} {counts}")
        if report.districts_created:
            console.print(f"district boundary loaded: {', '.join(report.districts_created)}")
        if dry_run and report.refused:
            raise typer.Exit(1)

    @group.command("export")
    def export_command(
        out: Path = typer.Argument(..., help="File to write (a Shapefile is written as .zip)."),
        format: str | None = typer.Option(
            None, "--format", help="geojson|gpkg|shp|kml|csv (default: from the suffix)."
        ),
        level: int | None = typer.Option(None, "--level", min=1, max=3, help="Only this level."),
        at: str | None = typer.Option(
            None,
            "--at",
            help="Boundaries as they stood then (ISO date or datetime; no offset = UTC+8).",
        ),
        district: str | None = typer.Option(None, "--district", help="Only this adcode."),
        encoding: str = typer.Option(
            "utf-8",
            "--encoding",
            help="Shapefile attribute encoding (utf-8, or gbk for old desktop GIS).",
        ),
    ) -> None:
        """Export the grids in force (now or --at) to OUT."""
        import shutil
        import tempfile

        from geogrid.errors import GeogridError
        from geogrid.grids.io_export import export_grids
        from geogrid.grids.io_formats import GridFormat
        from geogrid.grids.repository import parse_at
        from geogrid.settings import get_settings
        from geogrid.storage.database import create_db_engine, make_session_factory

        try:
            fmt = GridFormat.parse(format, out)
            when = parse_at(at)
        except GeogridError as exc:
            console.print(f"[red]{exc.detail}[/red]")
            raise typer.Exit(2) from None
        engine = create_db_engine(get_settings())
        try:
            with make_session_factory(engine)() as session, tempfile.TemporaryDirectory() as tmp:
                written = export_grids(
                    session,
                    Path(tmp),
                    fmt=fmt,
                    level=level,
                    at=when,
                    district_adcode=district,
                    encoding=encoding,
                    stem=out.stem,
                )
                target = out.with_suffix(".zip") if fmt is GridFormat.SHP else out
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(written, target)
        finally:
            engine.dispose()
        console.print(f"[green]wrote {target}[/green]")
