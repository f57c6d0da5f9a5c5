"""The ``geogrid`` command line (typer). Every command has ``--help``.

Commands own their transaction, as requests do in the API.
"""

from __future__ import annotations

import logging

import typer
from rich.console import Console

from geogrid.commands import register_all
from geogrid.settings import Settings, get_settings

app = typer.Typer(help="geogrid: grid management (网格化管理) on PostGIS.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
demo_app = typer.Typer(help="The Huazhou demo district (adcode 610503).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")

console = Console(stderr=True)


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
    serve(host=host, port=port)


register_all(app)

if __name__ == "__main__":
    app()
