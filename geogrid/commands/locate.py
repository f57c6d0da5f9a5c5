"""CLI commands for locate: ``geogrid locate IN.csv OUT.csv`` and
``geogrid addresses import FILE.csv``. Each command owns its transaction."""

from __future__ import annotations

import csv
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

console = Console(stderr=True)

addresses_app = typer.Typer(
    help="The standard address registry (标准地址库).", no_args_is_help=True
)


def locate_file(
    infile: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="CSV: id, lon, lat, crs, address."
    ),
    outfile: Path = typer.Argument(..., dir_okay=True, help="CSV written with grid codes."),
    district: str | None = typer.Option(
        None, help="District adcode (default GEOGRID_DISTRICT_ADCODE)."
    ),
    crs: str = typer.Option("wgs84", help="crs of rows without a crs column."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Add grid codes (deepest grid, level 1/2/3, dedicated), match scores and a reason for every
    row that could not be placed to a CSV of points and/or addresses."""
    from geogrid.addresses.registry import read_csv_text
    from geogrid.locate.batch import locate_rows, write_csv
    from geogrid.locate.index import IndexCache
    from geogrid.settings import get_settings
    from geogrid.storage.database import create_db_engine, make_session_factory, session_scope

    settings = get_settings()
    rows = list(csv.DictReader(read_csv_text(infile.read_bytes()).splitlines()))
    engine = create_db_engine(settings)
    placed = unplaced = 0
    try:
        with (
            session_scope(make_session_factory(engine)) as session,
            Progress(
                TextColumn("[bold]locating"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
                disable=not progress,
            ) as bar,
            outfile.open("w", encoding="utf-8", newline="") as out,
        ):
            task = bar.add_task("rows", total=len(rows))

            def counted(results):  # type: ignore[no-untyped-def]
                nonlocal placed, unplaced
                for result in results:
                    if result["grid_code"]:
                        placed += 1
                    else:
                        unplaced += 1
                    yield result

            results = locate_rows(
                session,
                rows,
                district_adcode=district or settings.district_adcode,
                cache=IndexCache(),
                default_crs=crs,
                progress=lambda n: bar.advance(task, n),
            )
            for chunk in write_csv(counted(results)):
                out.write(chunk)
    finally:
        engine.dispose()
    console.print(
        f"[green]{placed} rows placed[/green], [yellow]{unplaced} not placed[/yellow] → {outfile}"
    )


@addresses_app.command("import")
def addresses_import(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="CSV: text, lon, lat[, crs]."
    ),
    district: str | None = typer.Option(
        None, help="District adcode (default GEOGRID_DISTRICT_ADCODE)."
    ),
    crs: str = typer.Option("wgs84", help="crs of rows without a crs column."),
) -> None:
    """Import standard addresses, all or nothing: a bad row is named and nothing is written."""
    from geogrid.addresses.registry import import_addresses_csv
    from geogrid.errors import InvalidInputError
    from geogrid.settings import get_settings
    from geogrid.storage.database import create_db_engine, make_session_factory, session_scope

    settings = get_settings()
    engine = create_db_engine(settings)
    try:
        with session_scope(make_session_factory(engine)) as session:
            report = import_addresses_csv(
                session,
                file.read_bytes(),
                district_adcode=district or settings.district_adcode,
                default_crs=crs,
            )
    except InvalidInputError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        for error in exc.extra.get("errors", []):
            console.print(f"  line {error['row']}: {error['problem']}")
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    console.print(
        f"[green]{report.imported} addresses imported into {report.district_adcode}[/green]"
    )


def register(app: typer.Typer) -> None:
    """Add the locate commands to the top-level geogrid app."""
    app.command("locate")(locate_file)
    app.add_typer(addresses_app, name="addresses")
