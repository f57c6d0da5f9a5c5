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
    locate_live: bool = Field(
        default=True,
        description=(
            "Answer plain GET /locate point lookups from the in-memory live locator (one "
            "revision probe per request on its own connections). Off: every lookup takes a "
            "request session — for an app whose sessions all run inside one outer transaction "
            "(the rolled-back test app), which the probe's connections cannot see."
        ),
    )

    # -- access (issue 10) --------------------------------------------------------------------
    session_hours: float = Field(
        default=12, gt=0, description="How long a page login (session cookie) lasts."
    )
    api_token_days: int = Field(
        default=90, gt=0, description="Default lifetime of an API bearer token."
    )
    login_max_failures_per_account: int = Field(
        default=5, gt=0, description="Failed logins of one account within the window."
    )
    login_max_failures_per_address: int = Field(
        default=20, gt=0, description="Failed logins from one client address within the window."
    )
    login_failure_window_minutes: int = Field(default=15, gt=0)
    reporter_keys: str = Field(
        default="",
        description=(
            "Fernet keys (comma-separated, newest first) that encrypt reporters' names, phones "
            "and e-mails at rest. Rotation: put a new key first, keep the old ones after it, "
            "run `geogrid privacy rotate-key`, then drop the old keys. Empty: a key is kept in "
            "the database's settings file by `geogrid up` (see README)."
        ),
    )
    reporter_key_file: Path = Field(
        default=PROJECT_ROOT / ".geogrid" / "reporter_keys",
        description="Where the reporter keys are read from when GEOGRID_REPORTER_KEYS is empty "
        "(mode 0600, written once by `geogrid up`).",
    )
    privacy_retention_days: int = Field(
        default=365,
        gt=0,
        description="Days after an issue closes before `geogrid privacy purge` removes its "
        "reporters' contact details.",
    )
    publish_aggregates: bool = Field(
        default=False,
        description="Let the public see aggregated issue maps (counts per grid, no points).",
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
