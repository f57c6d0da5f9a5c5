"""Deployment (issue 10): the application role owns nothing and only reads and writes rows, the
database passwords are generated and kept in a private settings file, and the roles sign in
with SCRAM.

The role checks run on the suite's own database, connected as the application role exactly as
the API connects (``GEOGRID_TEST_DATABASE_URL``); they need the owner as a separate role
(``GEOGRID_TEST_DATABASE_OWNER_URL``, which scripts/test sets), and are skipped, saying so, on a
database that one role owns and uses. The settings file is the one scripts/test wrote
(``GEOGRID_TEST_SETTINGS_FILE``).
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from geogrid.settings import Settings
from geogrid.storage.roles import application_role

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def as_app(settings: Settings, engine: Engine) -> Iterator[Connection]:
    """A connection as the application role, in a transaction rolled back afterwards."""
    if application_role(settings) is None:
        pytest.skip(
            "the test database has one role for everything (GEOGRID_TEST_DATABASE_OWNER_URL "
            "is not set): there is no application role to check"
        )
    with engine.connect() as conn, conn.begin() as outer:
        yield conn
        outer.rollback()


def _refused(conn: Connection, sql: str, message: str) -> None:
    with pytest.raises(DBAPIError, match=message), conn.begin_nested():
        conn.execute(text(sql))


def test_the_application_role_owns_nothing_and_may_not_create_or_promote(
    as_app: Connection, settings: Settings
) -> None:
    me = as_app.execute(
        text(
            "SELECT current_user, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls "
            "FROM pg_roles WHERE rolname = current_user"
        )
    ).one()
    assert me[0] == make_url(settings.database_url).username
    assert not any(me[1:]), "superuser, CREATEDB, CREATEROLE or BYPASSRLS"
    owned = as_app.execute(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relowner = "
            "(SELECT oid FROM pg_roles WHERE rolname = current_user) "
            "UNION ALL SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace "
            "AND p.proowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) "
            "UNION ALL SELECT datname FROM pg_database WHERE datname = current_database() "
            "AND datdba = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
        )
    ).scalars()
    assert list(owned) == []
    owner = make_url(settings.owner_database_url).username
    assert not as_app.execute(
        text("SELECT pg_has_role(current_user, :owner, 'MEMBER')"), {"owner": owner}
    ).scalar_one()
    _refused(as_app, "CREATE TABLE public.intruder (id int)", "permission denied for schema")
    _refused(as_app, "CREATE SCHEMA intruder", "permission denied for database")
    _refused(as_app, f'SET ROLE "{owner}"', "permission denied to set role")


def test_the_application_role_cannot_alter_or_drop_a_table_nor_lift_its_guards(
    as_app: Connection,
) -> None:
    must_own = "must be owner of (table|relation)"
    _refused(as_app, "ALTER TABLE grids ADD COLUMN intruder int", must_own)
    _refused(as_app, "ALTER TABLE issues NO FORCE ROW LEVEL SECURITY", must_own)
    _refused(as_app, "ALTER TABLE issues DISABLE ROW LEVEL SECURITY", must_own)
    _refused(as_app, "DROP POLICY issues_reach ON issues", must_own)
    _refused(as_app, "ALTER TABLE grids DISABLE TRIGGER geogrid_audit", must_own)
    _refused(as_app, "DROP TRIGGER geogrid_audit_append_only ON audit_log", must_own)
    _refused(as_app, "DROP TABLE grids", must_own)
    _refused(as_app, "DROP TABLE audit_log", must_own)
    _refused(as_app, "TRUNCATE grids CASCADE", "permission denied for table")
    _refused(as_app, "CREATE INDEX intruder ON grids (code)", must_own)
    _refused(
        as_app,
        "CREATE OR REPLACE FUNCTION geogrid_reach_unrestricted() RETURNS boolean "
        "LANGUAGE sql AS 'SELECT true'",
        "must be owner of function|permission denied for schema",
    )
    # what it is there for still works: rows in, rows changed, rows out
    changed = as_app.execute(
        text("UPDATE grids SET kind = kind WHERE id = (SELECT min(id) FROM grids)")
    ).rowcount
    assert changed == 1


def test_the_application_role_appends_to_the_audit_trail_and_nothing_else(
    as_app: Connection, owner_engine: Engine
) -> None:
    before = as_app.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    # an audited write as the application: the trigger appends as it (INSERT is its right)
    as_app.execute(
        text(
            "UPDATE departments SET name = name || '·' WHERE id = (SELECT min(id) FROM departments)"
        )
    )
    assert as_app.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == before + 1
    denied = "permission denied for table audit_log"
    _refused(as_app, "UPDATE audit_log SET actor = 'nobody'", denied)
    _refused(as_app, "DELETE FROM audit_log", denied)
    _refused(as_app, "TRUNCATE audit_log", denied)
    rights = as_app.execute(
        text(
            "SELECT privilege_type FROM information_schema.table_privileges "
            "WHERE table_name = 'audit_log' AND grantee = current_user ORDER BY 1"
        )
    ).scalars()
    assert list(rights) == ["INSERT", "SELECT"]
    # the owner may not rewrite it either: the trigger refuses
    with owner_engine.connect() as conn, conn.begin() as outer:
        _refused(conn, "UPDATE audit_log SET actor = 'nobody'", "append-only")
        _refused(conn, "DELETE FROM audit_log", "append-only")
        outer.rollback()


# -- the settings file and the sign-in ----------------------------------------------------------


def _settings_file() -> Path:
    path = os.environ.get("GEOGRID_TEST_SETTINGS_FILE")
    if not path:
        pytest.skip("scripts/test did not provision this database (GEOGRID_TEST_SETTINGS_FILE)")
    return Path(path)


def test_the_settings_file_is_private_and_holds_generated_passwords(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _settings_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # what `geogrid` reads from it
    monkeypatch.setenv("GEOGRID_ENV_FILE", str(path))
    monkeypatch.delenv("GEOGRID_DATABASE_URL", raising=False)
    monkeypatch.delenv("GEOGRID_DATABASE_OWNER_URL", raising=False)
    deployed = Settings()
    app, owner = make_url(deployed.database_url), make_url(deployed.database_owner_url)
    test_app, test_owner = make_url(settings.database_url), make_url(settings.owner_database_url)
    # the same roles and passwords as the suite's database (command 1's database by name)
    assert (app.username, app.password) == (test_app.username, test_app.password)
    assert (owner.username, owner.password) == (test_owner.username, test_owner.password)
    assert app.username != owner.username
    for password in (app.password, owner.password):
        assert password and len(password) >= 32 and password != app.username


def test_the_roles_sign_in_with_scram_and_their_password_only(settings: Settings) -> None:
    _settings_file()
    for url in (settings.database_url, settings.owner_database_url):
        u = make_url(url)
        conninfo = {
            "host": u.host,
            "port": u.port,
            "dbname": u.database,
            "user": u.username,
            "connect_timeout": 5,
        }
        if psycopg.pq.version() >= 160000:  # libpq 16 checks what the server asked for
            with psycopg.connect(
                **conninfo, password=u.password, require_auth="scram-sha-256"
            ) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(**conninfo, password="geogrid").close()


# -- how scripts/provision.sh writes the settings file ------------------------------------------


def _write_settings(path: Path, *lines: str) -> None:
    subprocess.run(
        [
            "bash",
            "-c",
            'source scripts/provision.sh && write_settings "$@"',
            "bash",
            str(path),
            *lines,
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "GEOGRID_ENV_FILE": str(path)},
    )


def test_provisioning_writes_the_settings_file_once_privately_and_keeps_other_lines(
    tmp_path: Path,
) -> None:
    path = tmp_path / "conf" / "geogrid.env"
    _write_settings(path, "# header", "GEOGRID_DATABASE_URL=postgresql://a:one@h/db")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text() == "# header\nGEOGRID_DATABASE_URL=postgresql://a:one@h/db\n"
    written = path.stat().st_mtime_ns

    # a second run with the same values leaves the file alone (and tightens a loosened mode)
    path.chmod(0o644)
    _write_settings(path, "# header", "GEOGRID_DATABASE_URL=postgresql://a:one@h/db")
    assert path.stat().st_mtime_ns == written
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # an operator's own lines stay; a changed value replaces the old one in place
    with path.open("a") as f:
        f.write("GEOGRID_PORT=8080\n")
    _write_settings(
        path,
        "# header",
        "GEOGRID_DATABASE_URL=postgresql://a:two@h/db",
        "GEOGRID_DATABASE_OWNER_URL=postgresql://o:three@h/db",
    )
    assert path.read_text().splitlines() == [
        "# header",
        "GEOGRID_DATABASE_URL=postgresql://a:two@h/db",
        "GEOGRID_PORT=8080",
        "GEOGRID_DATABASE_OWNER_URL=postgresql://o:three@h/db",
    ]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
