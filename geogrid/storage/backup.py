"""Backups: ``pg_dump -Fc`` of the whole database and ``pg_restore`` of such a file.

Both run as the schema's owner (``Settings.owner_database_url``). The dump leaves out owners
(a restore runs as whichever role owns that installation's schema) and privileges (``geogrid db
restore`` grants the application role its rights again afterwards,
:func:`geogrid.storage.roles.grant_application_role`). Extensions are not restored: PostGIS is
installed in the target by a superuser already (the PostGIS template, or
``scripts/provision.sh``), and only its owner could drop or recreate it, so a restore as the
owner role skips those entries (and the rows of PostGIS's own ``spatial_ref_sys``); the trusted
ones the schema needs (``btree_gist``) it creates itself first.

The password travels in ``PGPASSWORD``, never on a command line others can read with ``ps``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url

from geogrid.errors import InvalidInputError

__all__ = ["dump_database", "restore_database"]


def _libpq(database_url: str) -> tuple[list[str], dict[str, str]]:
    """Connection arguments for the PostgreSQL client tools, and their environment."""
    url = make_url(database_url)
    args = ["--dbname", url.database or "postgres"]
    env = dict(os.environ)
    if url.host:
        args += ["--host", url.host]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return args, env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise InvalidInputError(
            f"{name} is not installed: install the PostgreSQL client (apt install "
            "postgresql-client).",
            rule="backup",
        )
    return path


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise InvalidInputError(
            f"{Path(command[0]).name} failed: {done.stderr.strip()[-2000:]}", rule="backup"
        )


def dump_database(database_url: str, file: Path) -> Path:
    """Write the whole database to ``file`` in pg_dump's custom format (``-Fc``)."""
    args, env = _libpq(database_url)
    _run(
        [
            _tool("pg_dump"),
            "--format=custom",
            # grids and issues are under forced row-level security (migration 0014): pg_dump
            # refuses them unless it reads through the policies, which let a session with no
            # reach set (this one) read every row
            "--enable-row-security",
            "--no-owner",
            "--no-privileges",
            "--file",
            str(file),
            *args,
        ],
        env,
    )
    return file


def _belongs_to_extension(entry: str) -> bool:
    """A ``pg_restore --list`` line for an extension, its comment, or the rows of PostGIS's
    ``spatial_ref_sys`` (an extension table: the target's PostGIS has its own)."""
    return " EXTENSION " in entry or " spatial_ref_sys " in entry


#: Extensions the schema needs that its owner may create itself (trusted extensions): a
#: restore creates them when the dump lists them, where PostGIS must already be there.
OWNER_EXTENSIONS = ("btree_gist",)


def _create_owner_extensions(database_url: str, listing: str) -> None:
    import psycopg

    wanted = [
        name for name in re.findall(r" EXTENSION - (\S+)", listing) if name in OWNER_EXTENSIONS
    ]
    if not wanted:
        return
    conninfo = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for name in wanted:  # a name from the fixed list above, never from the file
            conn.execute(f'CREATE EXTENSION IF NOT EXISTS "{name}"')


def restore_database(database_url: str, file: Path) -> None:
    """Restore a ``geogrid db dump`` file into the database: what the file holds replaces the
    same objects there (``--clean``), all in one transaction, PostGIS left as it is."""
    if not file.is_file():
        raise InvalidInputError(f"There is no dump file {file}.", rule="backup")
    args, env = _libpq(database_url)
    pg_restore = _tool("pg_restore")
    listing = subprocess.run(
        [pg_restore, "--list", str(file)], env=env, capture_output=True, text=True, check=False
    )
    if listing.returncode != 0:
        raise InvalidInputError(
            f"{file.name} is not a geogrid db dump file (pg_restore cannot list it).",
            rule="backup",
        )
    keep = [line for line in listing.stdout.splitlines() if not _belongs_to_extension(line)]
    _create_owner_extensions(database_url, listing.stdout)
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as out:
        out.write("\n".join(keep) + "\n")
    try:
        _run(
            [
                pg_restore,
                "--no-owner",
                "--no-privileges",
                "--clean",
                "--if-exists",
                "--single-transaction",
                "--exit-on-error",
                "--use-list",
                out.name,
                *args,
                str(file),
            ],
            env,
        )
    finally:
        os.unlink(out.name)
