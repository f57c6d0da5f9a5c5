"""CLI commands for issues: ``geogrid issues escalate-overdue | import FILE | export FILE |
check-tags``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

console = Console(stderr=True)

issues_app = typer.Typer(help="Issues: deadlines, import and export of the ledger.")


@issues_app.command("escalate-overdue")
def escalate_overdue_cmd(
    now: datetime | None = typer.Option(None, help="The clock (default: now, UTC)."),
) -> None:
    """Escalate one level every issue whose deadline at its level has passed."""
    from geogrid.issues.transitions import escalate_overdue
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

    from geogrid.commands.access import cli_session
    from geogrid.errors import GeogridError
    from geogrid.issues.importer import import_rows, read_rows
    from geogrid.settings import get_settings
    from geogrid.storage.database import create_db_engine, make_session_factory

    settings = get_settings()
    rows = read_rows(file)
    engine = create_db_engine(settings)
    session = make_session_factory(engine)()
    cli_session(session, settings)
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
    from geogrid.issues.ledger import LedgerFilter, ledger_rows, write_csv_to, write_xlsx_to
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
            with file.open("wb") as out:  # row by row, not the whole ledger in memory
                (write_xlsx_to if suffix == ".xlsx" else write_csv_to)(rows, out)
    finally:
        engine.dispose()
    console.print(f"[green]ledger written to {file}[/green]")


@issues_app.command("check-tags")
def check_tags_cmd(
    district: str | None = typer.Option(
        None, help="District adcode (default: every district's open issues)."
    ),
    fix: bool = typer.Option(False, "--fix", help="Re-tag what is found (one transaction)."),
) -> None:
    """List open issues whose grid is retired, no longer covers their point, or is not the
    deepest grid there (and tags that are off); with --fix, re-tag them to the grid that covers
    them now, with a ``retag`` event each. Exits 1 when something was found and not fixed."""
    from geogrid.grids.followups import misplaced_open_issues, settle_by_location
    from geogrid.grids.repository import now as db_now
    from geogrid.settings import get_settings
    from geogrid.storage.database import create_db_engine, make_session_factory, session_scope
    from geogrid.storage.locks import lock_boundaries_for_edit

    settings = get_settings()
    engine = create_db_engine(settings)
    try:
        with session_scope(make_session_factory(engine)) as session:
            if fix:  # no report is tagged in these districts until the fix commits
                for d in [district] if district else _issue_districts(session):
                    lock_boundaries_for_edit(session, d)
            found = misplaced_open_issues(session, district_adcode=district)
            for m in found:
                console.print(
                    f"issue {m.issue} ({m.status}): {m.reason}: "
                    f"{m.grid or 'district queue'} → {m.expected or 'district queue'}"
                )
            if fix and found:
                moved = settle_by_location(
                    session,
                    district_adcode=district,
                    area=None,
                    operation="check-tags",
                    actor="check-tags",
                    at=db_now(session),
                )
                console.print(f"[green]{len(moved)} issue(s) re-tagged[/green]")
                return
    finally:
        engine.dispose()
    if found:
        console.print(f"[red]{len(found)} open issue(s) misplaced; --fix re-tags them[/red]")
        raise typer.Exit(1)
    console.print("[green]every open issue is on the grid that covers it[/green]")


def _issue_districts(session: Session) -> list[str]:
    from sqlalchemy import select

    from geogrid.storage.models import Issue

    return list(session.scalars(select(Issue.district_adcode).distinct()).all())


def register(app: typer.Typer) -> None:
    """Add the issues commands to the top-level geogrid app."""
    app.add_typer(issues_app, name="issues")
