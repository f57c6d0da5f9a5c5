"""Runtime settings, read from ``GEOGRID_*`` environment variables.

There is no module-level instance: callers take :func:`get_settings` (cached) or build a
:class:`Settings` themselves, so tests can run with their own values without mutating globals.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

__all__ = ["PROJECT_ROOT", "Settings", "get_settings"]


class Settings(BaseSettings):
    """Settings for the library, the CLI and the API."""

    model_config = SettingsConfigDict(env_prefix="GEOGRID_", extra="ignore")

    database_url: str = Field(
        default="postgresql+psycopg://geogrid:geogrid@127.0.0.1:5432/geogrid",
        description="SQLAlchemy URL of a PostGIS database (psycopg 3 driver).",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    district_adcode: str = Field(default="610503", description="District served by default.")
    demo_seed: int = 610503
    assets_dir: Path = Field(
        default=PROJECT_ROOT / "node_modules",
        description="npm packages installed at set-up time and served under /static/vendor.",
    )
    boundaries_dir: Path = PROJECT_ROOT / "data" / "boundaries"
    geometry_tolerance_m: float = Field(default=0.5, gt=0)
    # -- when the database goes away: fail fast and say when to come back
    database_connect_timeout_s: int = Field(
        default=3,
        ge=2,
        description=(
            "Seconds a connection attempt may take (libpq connect_timeout; libpq treats less "
            "than 2 as 2). Short, so that requests do not pile up while the database is away."
        ),
    )
    database_lock_timeout_s: float = Field(
        default=15,
        ge=0,
        description="Seconds an API statement may wait for a lock before the request answers "
        "503 (PostgreSQL lock_timeout; 0 = wait forever).",
    )
    database_statement_timeout_s: float = Field(
        default=60,
        ge=0,
        description="Seconds an API statement may run before the request answers 503 "
        "(PostgreSQL statement_timeout; 0 = no limit).",
    )
    database_pool_timeout_s: float = Field(
        default=10, gt=0, description="Seconds a request waits for a free pooled connection."
    )
    database_application_name: str = Field(
        default="geogrid",
        description="application_name of the app's connections (pg_stat_activity shows it).",
    )
    retry_after_s: int = Field(
        default=5,
        ge=1,
        description="Retry-After (seconds) of a 503 answered while the database is unavailable.",
    )
    locate_live: bool = Field(
        default=True,
        description=(
            "Answer plain GET /locate point lookups from the in-memory live locator (one "
            "revision probe per request on its own connections). Off: every lookup takes a "
            "request session — for an app whose sessions all run inside one outer transaction "
            "(the rolled-back test app), which the probe's connections cannot see."
        ),
    )
    tiles_embed_limit: int = Field(
        default=20_000,
        ge=0,
        description="The grids page draws a layer with more grids than this from vector tiles "
        "(/tiles) instead of embedding it in the page.",
    )
    tiles_embed_issue_limit: int = Field(
        default=200_000,
        ge=0,
        description="The heatmap page draws more issues than this from vector tiles. Higher "
        "than the grids' limit: past 50 000 issues the page embeds ~100 m cells, not points.",
    )
    tiles_max_age_s: int = Field(
        default=0,
        ge=0,
        description="How long a client may use a tile of current data without asking again; 0 "
        "(default) makes it revalidate every time, which its ETag answers with a cheap 304.",
    )

    @field_validator("database_url")
    @classmethod
    def _psycopg3_driver(cls, url: str) -> str:
        """Accept plain ``postgresql://`` URLs, as libpq users write them, and use psycopg 3."""
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @field_validator("district_adcode")
    @classmethod
    def _six_digits(cls, adcode: str) -> str:
        if len(adcode) != 6 or not adcode.isdigit():
            raise ValueError(f"district_adcode must be a 6-digit GB/T 2260 code, got {adcode!r}")
        return adcode


@lru_cache
def get_settings() -> Settings:
    """Settings from the environment, read once per process."""
    return Settings()
