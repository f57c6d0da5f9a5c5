"""CLI commands for issues: ``geogrid issues escalate-overdue | import FILE | export FILE``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console

console = Console(stderr=True)

issues_app = typer.Typer(help="Issues: deadlines, import and export of the ledger.")


@issues_app.command("escalate-overdue")
def escalate_overdue_cmd(
    now: datetime | None = typer.Option(None, help="The clock (default: now, UTC)."),
) -> None:
    """Escalate one level every issue whose deadline at its level has passed."""
    from geogrid.issues.repository import escalate_overdue
    from geogrid.settings import get_settings
    from geogrid.storage.database import create_db_engine, make_session_factory, session_scope

    settings = get_settings()
    engine = create_db_engine(settings)
    clock = now.replace(tzinfo=now.tzinfo or UTC) if now else datetime.now(UTC)
    try:
        with session_scope(make_session_factory(engine)) as session:
            moved = escalate_overdue(session, clock, district_adcode=settings.district_adcode)
    finally:
        engine.dispose()
    console.print(f"[green]{len(moved)} issue(s) escalated[/green]")


@issues_app.command("import")
def import_cmd(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV or XLSX."),
) -> None:
    """Import issues from CSV/XLSX, all or nothing: one bad row and nothing is written.

    Columns (English or Chinese): category/类别编码, description/描述, lon/经度, lat/纬度,
    crs/坐标系 (default wgs84), address/地址, source/来源 (default import),
    reporter_name/上报人, reporter_phone/联系电话.
    """
    from rich.progress import Progress

    from geogrid.errors import GeogridError
    from geogrid.issues.importer import import_rows, read_rows
    from geogrid.settings import get_settings
    from geogrid.storage.database import create_db_engine, make_session_factory

    settings = get_settings()
    rows = read_rows(file)
    engine = create_db_engine(settings)
    session = make_session_factory(engine)()
    try:
        with Progress(console=console) as progress:
            task = progress.add_task("importing issues", total=len(rows))
            ids = import_rows(
                session,
                rows,
                default_adcode=settings.district_adcode,
                now=datetime.now(UTC),
                advance=lambda: progress.advance(task),
            )
        session.commit()
    except GeogridError as exc:
        session.rollback()
        console.print(f"[red]nothing imported: {exc.detail}[/red]")
        raise typer.Exit(1) from exc
    finally:
        session.close()
        engine.dispose()
    console.print(f"[green]{len(ids)} issue(s) imported[/green]")


@issues_app.command("export")
def export_cmd(
    file: Path = typer.Argument(..., dir_okay=False, help="Ends in .csv or .xlsx."),
    grid: str | None = typer.Option(None, help="Grid code prefix (the grid and its subtree)."),
) -> None:
    """Export the ledger (台账) with Chinese headers, sorted by grid code."""
    from geogrid.issues.ledger import LedgerFilter, ledger_rows, write_csv, write_xlsx
    from geogrid.settings import get_settings
    from geogrid.storage.database import create_db_engine, make_session_factory, session_scope

    suffix = file.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        console.print(f"[red]{file}: the file name must end in .csv or .xlsx[/red]")
        raise typer.Exit(2)
    settings = get_settings()
    engine = create_db_engine(settings)
    try:
        with session_scope(make_session_factory(engine)) as session:
            rows = ledger_rows(
                session,
                LedgerFilter(grid_code=grid, district_adcode=settings.district_adcode),
                now=datetime.now(UTC),
            )
            if suffix == ".xlsx":
                file.write_bytes(write_xlsx(rows))
            else:
                file.write_text(write_csv(rows), encoding="utf-8")
    finally:
        engine.dispose()
    console.print(f"[green]ledger written to {file}[/green]")


def register(app: typer.Typer) -> None:
    """Add the issues commands to the top-level geogrid app."""
    app.add_typer(issues_app, name="issues")
