"""CLI commands for the analysis stores: ``geogrid analysis rebuild [--district ADCODE]``.

The stores behind ``/analysis/*`` are derived (:mod:`geogrid.analysis.stores`); this command
recomputes them from the base tables, for after a bulk SQL fix with the triggers disabled, a
restore, or to check that nothing drifted. The command owns its transaction.
"""

from __future__ import annotations

import time

import typer
from rich.console import Console

console = Console(stderr=True)


def rebuild_stores(
    district: str | None = typer.Option(
        None, help="District adcode (default: every district with grids)."
    ),
) -> None:
    """Recompute every analysis store (territorial gaps, display geometries, misplaced issues,
    activity, daily counts) from scratch."""
    from geogrid.analysis.stores import rebuild
    from geogrid.settings import get_settings
    from geogrid.storage.database import create_db_engine, make_session_factory, session_scope

    engine = create_db_engine(get_settings())
    try:
        started = time.perf_counter()
        with session_scope(make_session_factory(engine)) as session:
            districts = rebuild(session, district_adcode=district)
        elapsed = time.perf_counter() - started
    finally:
        engine.dispose()
    if not districts:
        console.print("[yellow]no district has grids: nothing to rebuild[/yellow]")
        raise typer.Exit(1)
    console.print(f"rebuilt the analysis stores of {', '.join(districts)} in {elapsed:.1f} s")


def register(app: typer.Typer) -> None:
    """Add the analysis commands to the top-level geogrid app."""
    analysis_app = typer.Typer(help="Analysis stores (derived data).", no_args_is_help=True)
    analysis_app.command("rebuild")(rebuild_stores)
    app.add_typer(analysis_app, name="analysis")
