"""Runtime settings, read from ``GEOGRID_*`` environment variables and the settings file
that scripts/up writes (``.geogrid/geogrid.env``, mode 0600: the database URLs with their
generated passwords).

There is no module-level instance: callers take :func:`get_settings` (cached) or build a
:class:`Settings` themselves, so tests can run with their own values without mutating globals.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: The settings file scripts/up writes (the database URLs with their generated passwords, mode
#: 0600); ``GEOGRID_ENV_FILE`` names another one. Optional: without it, the environment and the
#: defaults decide.
ENV_FILE = PROJECT_ROOT / ".geogrid" / "geogrid.env"

__all__ = ["ENV_FILE", "PROJECT_ROOT", "Settings", "env_file", "get_settings"]


def env_file() -> Path:
    """The settings file read now: ``GEOGRID_ENV_FILE``, else :data:`ENV_FILE`. Read at every
    :class:`Settings` construction, so a process (the test suite) can point it elsewhere."""
    return Path(os.environ.get("GEOGRID_ENV_FILE") or ENV_FILE)


class Settings(BaseSettings):
    """Settings for the library, the CLI and the API.

    Each setting comes from, in this order: the constructor's arguments, a ``GEOGRID_*``
    environment variable, the settings file (:func:`env_file`), the default.
    """

    model_config = SettingsConfigDict(env_prefix="GEOGRID_", extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # the settings file of this moment, not of the module's import
        dotenv = DotEnvSettingsSource(settings_cls, env_file=env_file(), env_file_encoding="utf-8")
        return init_settings, env_settings, dotenv, file_secret_settings

    database_url: str = Field(
        default="postgresql+psycopg://geogrid:geogrid@127.0.0.1:5432/geogrid",
        description="SQLAlchemy URL of a PostGIS database (psycopg 3 driver), as the "
        "application role: the API and the CLI read and write with it. scripts/up writes it, "
        "with a generated password, to the settings file.",
    )
    database_owner_url: str = Field(
        default="",
        description="SQLAlchemy URL of the same database as the role that owns its schema and "
        "tables: migrations, the demo and district loads, dumps and restores connect with it "
        "and grant the application role its rights. Empty: database_url (one role owns and "
        "uses the tables).",
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

    # -- limits (see api/limits.py): what one request may cost the server
    max_body_bytes: int = Field(
        default=1 << 20,
        gt=0,
        description="Largest request body of a route that does not say otherwise (JSON: 1 MB).",
    )
    max_upload_bytes: int = Field(
        default=200 << 20, gt=0, description="Largest grid file upload (POST /grids/import)."
    )
    max_batch_bytes: int = Field(
        default=32 << 20,
        gt=0,
        description="Largest CSV/NDJSON body of POST /locate/batch and /addresses/import.",
    )
    max_photo_bytes: int = Field(
        default=6 << 20, gt=0, description="Largest multipart body of a photo upload."
    )
    max_unpacked_bytes: int = Field(
        default=512 << 20,
        gt=0,
        description="Largest total size of the files unpacked from an uploaded zip.",
    )
    max_unpack_ratio: float = Field(
        default=200.0,
        gt=1,
        description="Largest ratio of a zip member's unpacked to packed size (zip bombs).",
    )
    parse_memory_bytes: int = Field(
        default=2 << 30,
        gt=0,
        description="Address-space limit of the process that parses an uploaded file.",
    )
    parse_seconds: int = Field(
        default=120, gt=0, description="CPU-time limit of the process that parses an upload."
    )
    heavy_analyses: int = Field(
        default=2,
        ge=1,
        description="Heavy analyses (hotspots, gaps) run at once per process; others wait.",
    )
    heavy_wait_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long a heavy analysis waits for a slot before answering 503.",
    )
    rate_limit_reports: int = Field(
        default=30,
        ge=0,
        description="Reports (POST /issues, Open311 POST) per client address per minute; 0: off.",
    )
    rate_limit_public: int = Field(
        default=600,
        ge=0,
        description="Public reads (/locate, signboards, Open311) per client per minute; 0: off.",
    )
    docs_enabled: bool = Field(
        default=True, description="Serve the API documentation at /docs and /redoc."
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

    @field_validator("database_url", "database_owner_url")
    @classmethod
    def _psycopg3_driver(cls, url: str) -> str:
        """Accept plain ``postgresql://`` URLs, as libpq users write them, and use psycopg 3."""
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def owner_database_url(self) -> str:
        """The URL the schema's owner connects with: :attr:`database_owner_url` when it names
        the same database (host, port and name) as :attr:`database_url`, else
        :attr:`database_url` — so pointing ``GEOGRID_DATABASE_URL`` at another database never
        migrates the settings file's one.

        >>> Settings(database_url="postgresql://app:a@h/db").owner_database_url
        'postgresql+psycopg://app:a@h/db'
        >>> owner = "postgresql://own:o@h/db"
        >>> both = Settings(database_url="postgresql://app:a@h/db", database_owner_url=owner)
        >>> both.owner_database_url == both.as_owner().database_url == "postgresql+psycopg://own:o@h/db"
        True
        >>> other = Settings(database_url="postgresql://app:a@h/other", database_owner_url=owner)
        >>> other.owner_database_url
        'postgresql+psycopg://app:a@h/other'
        """
        if not self.database_owner_url:
            return self.database_url
        app, owner = make_url(self.database_url), make_url(self.database_owner_url)
        if (app.host, app.port, app.database) != (owner.host, owner.port, owner.database):
            return self.database_url
        return self.database_owner_url

    def as_owner(self) -> Settings:
        """These settings connecting as the schema's owner (what migrations and loads use)."""
        return self.model_copy(update={"database_url": self.owner_database_url})

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
