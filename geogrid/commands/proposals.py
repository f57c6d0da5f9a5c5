"""CLI: ``geogrid grids propose CODE [--target-households N] [--k N] [--lines FILE]``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def propose(
    code: str = typer.Argument(..., help="A level-1 or level-2 general grid code."),
    target_households: int | None = typer.Option(
        None, help="Households per grid (default: the households norm of the gaps analysis)."
    ),
    k: int | None = typer.Option(None, help="Fix the number of grids (region-k-means)."),
    lines: Path | None = typer.Option(
        None, exists=True, dir_okay=False, help="Roads or rivers, any format the importer reads."
    ),
    actor: str = typer.Option("cli", help="Who proposes (stored with the draft)."),
) -> None:
    """Propose balanced, compact child grids of CODE and store them as a draft; prints the
    before/after table and the draft's id (apply or discard it with the API or the editor)."""
    import shapely

    from geogrid.grids import proposals
    from geogrid.grids import repository as repo
    from geogrid.settings import get_settings
    from geogrid.storage.database import create_db_engine, make_session_factory

    line_geom = None
    if lines is not None:
        from geogrid.grids.io_formats import read_features

        source = read_features(lines)
        line_geom = shapely.union_all(
            [f.geometry for f in source.features if f.geometry is not None]
        )
    engine = create_db_engine(get_settings())
    try:
        with make_session_factory(engine)() as session:
            made = proposals.propose(
                session,
                code,
                actor=actor,
                now=repo.now(session),
                target_households=target_households,
                k=k,
                lines=line_geom,
            )
            session.commit()
    finally:
        engine.dispose()
    figures = made["figures"]
    table = Table(title=f"Proposal {made['id']} for {code} ({made['parameters']['method']})")
    for column in ("", "before", "after"):
        table.add_column(column)
    for label, key in (
        ("grids", "grids_{}"),
        ("workers needed", "workers_needed_{}"),
        ("share within ±30 %", "share_in_band_{}"),
        ("Gini", "gini_{}"),
    ):
        table.add_row(label, str(figures[key.format("before")]), str(figures[key.format("after")]))
    console.print(table)
    console.print(
        f"codes kept: {', '.join(figures['codes_kept']) or 'none'}; k-means baseline within "
        f"±30 %: {figures['share_in_band_kmeans_baseline']}"
    )


def register(app: typer.Typer) -> None:
    """Add ``grids propose`` to the grids group."""
    from geogrid.commands.grids import _group

    _group(app).command("propose")(propose)
