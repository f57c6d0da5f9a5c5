"""CLI for signboards: ``geogrid signboards print --street CODE --out FILE.pdf``.

A street office prints the signboard (网格信息公示牌) of every grid of a street in one go, one
A5 page per grid, each with the QR code that opens the report page of its grid.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the signboards commands to the top-level geogrid app."""
    signboards_app = typer.Typer(
        help="Printable signboards (网格信息公示牌).", no_args_is_help=True
    )
    app.add_typer(signboards_app, name="signboards")

    @signboards_app.command("print")
    def print_street(
        street: str = typer.Option(..., "--street", help="9-digit street/town code."),
        out: Path = typer.Option(..., "--out", "-o", help="The PDF file to write."),
        base_url: str | None = typer.Option(
            None,
            help="Address residents reach the report page at, for the QR codes "
            "(default: http://GEOGRID_HOST:GEOGRID_PORT).",
        ),
    ) -> None:
        """Print every signboard of STREET to one PDF (Chromium's print to PDF)."""
        from sqlalchemy.orm import Session

        from geogrid.errors import GeogridError
        from geogrid.grids.signboard_print import print_pdf, street_signboards_html
        from geogrid.settings import get_settings
        from geogrid.storage.database import create_db_engine

        settings = get_settings()
        engine = create_db_engine(settings)
        try:
            with Session(engine) as session:
                document, count = street_signboards_html(
                    session,
                    street,
                    report_base_url=base_url or f"http://{settings.host}:{settings.port}",
                    now=datetime.now(UTC),
                )
        except GeogridError as exc:
            typer.echo(f"error: {exc.detail}", err=True)
            raise typer.Exit(2) from exc
        finally:
            engine.dispose()
        print_pdf(document, out)
        typer.echo(f"wrote {out}: {count} signboards of street {street}")
