"""The ``geogrid`` command line (typer). Every command has ``--help``.

Commands own their transaction, as requests do in the API.

A database that cannot be reached is an operator's problem, not a bug: every command then says
``database unreachable at host:port (reason)`` on stderr and exits with
:data:`EXIT_DATABASE_UNAVAILABLE`, without a traceback (:class:`GeogridTyper`). Other errors
keep typer's traceback, because those are bugs to report.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import typer
from rich.console import Console

from geogrid.commands import register_all
from geogrid.settings import Settings, get_settings

#: Exit status of a command that could not reach (or write to) the database: 69 is
#: EX_UNAVAILABLE of sysexits.h, "a service is unavailable", so scripts can retry on it.
EXIT_DATABASE_UNAVAILABLE: Final = 69

console = Console(stderr=True)


class GeogridTyper(typer.Typer):
    """The root command: a database fault ends the command with one line and a non-zero
    exit instead of a traceback (see the module docstring)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            from geogrid.storage.faults import database_fault

            settings = get_settings()
            fault = database_fault(
                exc, database_url=settings.database_url, retry_after_s=settings.retry_after_s
            )
            if fault is None:
                raise
            console.print(f"[red]{fault.operator_message}[/red]", highlight=False, soft_wrap=True)
            raise SystemExit(EXIT_DATABASE_UNAVAILABLE) from None


app = GeogridTyper(help="geogrid: grid management (网格化管理) on PostGIS.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
demo_app = typer.Typer(help="The Huazhou demo district (adcode 610503).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")


def _settings() -> Settings:
    return get_settings()


@db_app.command("migrate")
def db_migrate(revision: str = typer.Argument("head", help="Alembic revision to reach.")) -> None:
    """Run the Alembic migrations up to REVISION (default: the newest)."""
    from geogrid.storage.migrate import upgrade

    upgrade(_settings(), revision)
    console.print(f"[green]database migrated to {revision}[/green]")


@demo_app.command("load")
def demo_load(
    seed: int | None = typer.Option(None, help="Random seed (default: GEOGRID_DEMO_SEED)."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Load the Huazhou demo district if the database holds none (a second run changes nothing)."""
    from geogrid.demo.load import load_demo
    from geogrid.storage.database import create_db_engine

    settings = _settings()
    engine = create_db_engine(settings)
    try:
        report = load_demo(
            engine, seed=settings.demo_seed if seed is None else seed, progress=progress
        )
    finally:
        engine.dispose()
    console.print(report.summary())


@app.command("serve")
def serve(
    host: str | None = typer.Option(None, help="Address to bind (default GEOGRID_HOST)."),
    port: int | None = typer.Option(None, help="Port (default GEOGRID_PORT)."),
) -> None:
    """Serve the API and the maps (uvicorn)."""
    import uvicorn

    from api.main import create_app

    settings = _settings()
    logging.basicConfig(level=logging.INFO)
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
    )


@app.command("up")
def up(
    host: str | None = typer.Option(None, help="Address to bind (default GEOGRID_HOST)."),
    port: int | None = typer.Option(None, help="Port (default GEOGRID_PORT)."),
) -> None:
    """Migrate, load the demo district if the database is empty, then serve."""
    from geogrid.demo.load import load_demo
    from geogrid.storage.database import create_db_engine
    from geogrid.storage.migrate import upgrade

    settings = _settings()
    upgrade(settings)
    engine = create_db_engine(settings)
    try:
        report = load_demo(engine, seed=settings.demo_seed, progress=True)
    finally:
        engine.dispose()
    console.print(report.summary())
    console.print(
        f"[bold]geogrid serving on http://{host or settings.host}:{port or settings.port}[/bold]"
    )
    serve(host=host, port=port)


register_all(app)

if __name__ == "__main__":
    app()
