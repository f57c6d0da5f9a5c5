"""The ``geogrid`` command line (typer). Every command has ``--help``.

Commands own their transaction, as requests do in the API.

A database that cannot be reached is an operator's problem, not a bug: every command then says
``database unreachable at host:port (reason)`` on stderr and exits with
:data:`EXIT_DATABASE_UNAVAILABLE`, without a traceback (:class:`GeogridTyper`). Other errors
keep typer's traceback, because those are bugs to report.
"""

from __future__ import annotations

import logging
from pathlib import Path
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
    """Run the Alembic migrations up to REVISION (default: the newest), as the schema's owner
    (GEOGRID_DATABASE_OWNER_URL), and grant the application role its rights."""
    from geogrid.storage.migrate import upgrade

    upgrade(_settings(), revision)
    console.print(f"[green]database migrated to {revision}[/green]")


@db_app.command("dump")
def db_dump(
    file: Path = typer.Argument(..., help="Where to write the dump (pg_dump -Fc)."),
) -> None:
    """Back up the whole database to FILE (restore it with `geogrid db restore`)."""
    from geogrid.errors import GeogridError
    from geogrid.storage.backup import dump_database

    try:
        dump_database(_settings().owner_database_url, file)
    except GeogridError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    console.print(f"[green]database dumped to {file}[/green]")


@db_app.command("restore")
def db_restore(file: Path = typer.Argument(..., help="A file `geogrid db dump` wrote.")) -> None:
    """Restore FILE into the database (its tables replace the ones there, in one transaction)."""
    from geogrid.errors import GeogridError
    from geogrid.storage.backup import restore_database
    from geogrid.storage.roles import grant_application_role

    settings = _settings()
    try:
        # as the owner (the restored tables are its own), then the application role's rights
        # again: the dump carries no privileges
        restore_database(settings.owner_database_url, file)
        grant_application_role(settings)
    except GeogridError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    console.print(f"[green]database restored from {file}[/green]")


@demo_app.command("load")
def demo_load(
    seed: int | None = typer.Option(None, help="Random seed (default: GEOGRID_DEMO_SEED)."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Load the Huazhou demo district if the database holds none (a second run changes nothing)."""
    from geogrid.demo.load import load_demo
    from geogrid.storage.database import create_db_engine

    settings = _settings()
    engine = create_db_engine(settings.as_owner())  # the owner: it refreshes the statistics
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
    workers: int = typer.Option(
        1, min=1, help="Worker processes; with more than one, a supervisor restarts any that dies."
    ),
) -> None:
    """Serve the API and the maps (uvicorn)."""
    import uvicorn

    settings = _settings()
    logging.basicConfig(level=logging.INFO)
    bind_host, bind_port = host or settings.host, port or settings.port
    if workers > 1:
        # uvicorn's supervisor forks the workers, pings them, and starts a new one when one
        # dies (a crash in C code, an OOM kill): a crash costs one worker's requests in flight.
        # Each worker builds its app from the environment (and the settings file).
        uvicorn.run(
            "api.main:create_app",
            factory=True,
            workers=workers,
            host=bind_host,
            port=bind_port,
            log_level="info",
        )
        return
    from api.main import create_app

    uvicorn.run(create_app(settings), host=bind_host, port=bind_port, log_level="info")


@app.command("up")
def up(
    host: str | None = typer.Option(None, help="Address to bind (default GEOGRID_HOST)."),
    port: int | None = typer.Option(None, help="Port (default GEOGRID_PORT)."),
    workers: int = typer.Option(1, min=1, help="Worker processes (see `geogrid serve`)."),
) -> None:
    """Migrate and load the demo district if the database is empty (as the schema's owner),
    then serve (as the application role)."""
    from geogrid.demo.load import load_demo
    from geogrid.storage.database import create_db_engine
    from geogrid.storage.migrate import upgrade

    settings = _settings()
    upgrade(settings)
    engine = create_db_engine(settings.as_owner())
    try:
        report = load_demo(engine, seed=settings.demo_seed, progress=True)
    finally:
        engine.dispose()
    console.print(report.summary())
    from geogrid.auth.privacy import ensure_key_file
    from geogrid.commands.access import first_admin

    key_file = ensure_key_file(settings)
    if key_file is not None:
        console.print(f"reporter encryption key written to {key_file} (mode 0600): back it up")
    password = first_admin(settings)
    if password is not None:
        # printed once, never stored in clear: there is no default password
        console.print(
            f"[bold yellow]first admin created: user admin, one-time password {password}"
            "[/bold yellow] (change it: geogrid users reset-password admin)"
        )
    console.print(
        f"[bold]geogrid serving on http://{host or settings.host}:{port or settings.port}[/bold]"
    )
    serve(host=host, port=port, workers=workers)


register_all(app)

if __name__ == "__main__":
    app()
