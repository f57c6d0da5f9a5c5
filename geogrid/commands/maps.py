"""CLI commands for maps: ``geogrid maps render NAME --out FILE.html``.

By default the file is self-contained: every script, stylesheet and font is embedded
(:mod:`geogrid.maps.standalone`), so it opens from a USB stick or an e-mail, offline and with no
geogrid server. With ``--static-prefix URL`` it is a lighter page whose assets load from a
geogrid server the reader can reach on the local network, e.g.
``--static-prefix http://10.1.2.3:8000/static``; never from the internet.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

MAP_NAMES = ("grids", "heatmap", "rates", "hotspots", "gaps")


def _map_function(name: str) -> Callable[..., Any]:
    from geogrid.maps.gaps_map import gaps_map
    from geogrid.maps.grids_map import grids_map
    from geogrid.maps.heatmap import issue_heatmap
    from geogrid.maps.hotspots_map import hotspots_map
    from geogrid.maps.rates import rates_map

    functions: dict[str, Callable[..., Any]] = {
        "grids": grids_map,
        "heatmap": issue_heatmap,
        "rates": rates_map,
        "hotspots": hotspots_map,
        "gaps": gaps_map,
    }
    return functions[name]


def render_map_file(
    name: str,
    out: Path,
    *,
    database_url: str | None = None,
    static_prefix: str | None = None,
    district: str | None = None,
    basemap: str = "blank",
    level: int | None = None,
) -> int:
    """Render map ``name`` to ``out``; returns the number of bytes written."""
    from sqlalchemy.orm import Session

    from geogrid.errors import InvalidInputError
    from geogrid.maps.assets import render_html
    from geogrid.maps.standalone import standalone_html
    from geogrid.settings import Settings, get_settings
    from geogrid.storage.database import create_db_engine

    if name not in MAP_NAMES:
        raise InvalidInputError(f"unknown map {name!r}: use one of {', '.join(MAP_NAMES)}")
    settings = get_settings()
    if database_url:
        settings = Settings(**{**settings.model_dump(), "database_url": database_url})
    kwargs: dict[str, Any] = {
        "district_adcode": district or settings.district_adcode,
        "basemap": basemap,
    }
    if level is not None and name in ("rates", "hotspots"):
        kwargs["level"] = level
    engine = create_db_engine(settings)
    try:
        with Session(engine) as session:
            m = _map_function(name)(session, **kwargs)
            if static_prefix:
                page = render_html(m, static_prefix=static_prefix)
            else:
                page = standalone_html(m, assets_dir=settings.assets_dir)
    finally:
        engine.dispose()
    data = page.encode("utf-8")
    out.write_bytes(data)
    return len(data)


def register(app: typer.Typer) -> None:
    """Add the maps commands to the top-level geogrid app."""
    maps_app = typer.Typer(help="Folium maps as standalone HTML files.", no_args_is_help=True)
    app.add_typer(maps_app, name="maps")

    @maps_app.command("render")
    def render(
        name: str = typer.Argument(..., help=f"One of: {', '.join(MAP_NAMES)}."),
        out: Path = typer.Option(..., "--out", "-o", help="The HTML file to write."),
        static_prefix: str | None = typer.Option(
            None,
            help="Load scripts and styles from this geogrid server (e.g. "
            "http://10.1.2.3:8000/static) instead of embedding them in the file.",
        ),
        district: str | None = typer.Option(None, help="District adcode (default: settings)."),
        basemap: str = typer.Option("blank", help="blank, osm, tianditu or amap."),
        level: int | None = typer.Option(None, help="Grid level (rates, hotspots)."),
    ) -> None:
        """Render map NAME to an HTML file that opens offline (see `--static-prefix`)."""
        from geogrid.errors import GeogridError

        try:
            size = render_map_file(
                name,
                out,
                static_prefix=static_prefix,
                district=district,
                basemap=basemap,
                level=level,
            )
        except GeogridError as exc:
            typer.echo(f"error: {exc.detail}", err=True)
            raise typer.Exit(2) from exc
        typer.echo(f"wrote {out} ({size / 1e6:.2f} MB)")
