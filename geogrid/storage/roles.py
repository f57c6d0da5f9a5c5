"""The two database roles of a deployment: the schema's owner and the application.

The owner role (``geogrid_owner`` where scripts/up provisions) owns the database, its schema and
every table, and runs the migrations, the bulk loads, dumps and restores. The application role
(``geogrid``: the API and the CLI's everyday commands) owns nothing, cannot create databases,
and holds only what it uses:

* ``SELECT, INSERT, UPDATE, DELETE`` on the tables;
* ``SELECT, INSERT`` on ``audit_log`` (the audit triggers run as the writer), never ``UPDATE``,
  ``DELETE`` or ``TRUNCATE``;
* ``SELECT`` on ``alembic_version``;
* ``USAGE, SELECT, UPDATE`` on the sequences (ids; a district added with its demo through the
  API moves them past the rows it wrote).

Whatever statement the application runs, it can therefore neither create, alter nor drop a
table, nor lift the row-level security or drop the audit triggers (only a table's owner can),
nor rewrite the audit trail. Row-level security binds it as it binds the owner (migration 0014
forces it on the owner too).

:func:`grant_application_role` runs as the owner after every migration and restore (the rights
are revoked and granted again, table by table, in one transaction, so what a new migration adds
is covered and nothing more is left over); the owner's default privileges also give new tables
and sequences the plain rights as they are created.
"""

from __future__ import annotations

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from geogrid.settings import Settings

__all__ = [
    "SEQUENCE_RIGHTS",
    "TABLE_RIGHTS",
    "application_role",
    "grant_application_role",
    "grant_rights",
]

#: What the application may do to a table, and to the exceptions.
TABLE_RIGHTS = "SELECT, INSERT, UPDATE, DELETE"
SPECIAL_TABLE_RIGHTS = {"audit_log": "SELECT, INSERT", "alembic_version": "SELECT"}
SEQUENCE_RIGHTS = "USAGE, SELECT, UPDATE"


def application_role(settings: Settings) -> str | None:
    """The application role to grant rights to: the user of ``database_url`` when the owner
    connects as another one, else ``None`` (one role owns and uses the tables).

    >>> application_role(Settings(database_url="postgresql://geogrid:a@h/db",
    ...                           database_owner_url="postgresql://geogrid_owner:o@h/db"))
    'geogrid'
    >>> application_role(Settings(database_url="postgresql://geogrid:a@h/db")) is None
    True
    """
    app = make_url(settings.database_url).username
    owner = make_url(settings.owner_database_url).username
    return app if app and app != owner else None


def grant_application_role(settings: Settings) -> str | None:
    """Give the application role its rights on the owner's tables (as the owner); the role, or
    ``None`` when there is no separate application role."""
    role = application_role(settings)
    if role is None:
        return None
    engine = create_engine(settings.owner_database_url, poolclass=NullPool, hide_parameters=True)
    try:
        with engine.begin() as conn:
            grant_rights(conn, role)
    finally:
        engine.dispose()
    return role


def grant_rights(conn: Connection, role: str) -> None:
    """Revoke every right of ``role`` on what the current user owns in the current schema, then
    grant it :data:`TABLE_RIGHTS` / :data:`SEQUENCE_RIGHTS` (the audit trail and the migration
    stamp get less), and make these the owner's default privileges for what it creates next."""
    quote = conn.dialect.identifier_preparer.quote
    who = quote(role)
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    owned = conn.execute(
        text(
            "SELECT c.relname, c.relkind FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') "
            "AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) "
            "ORDER BY c.relname"
        )
    ).all()
    for name, kind in owned:
        target = f"{quote(schema)}.{quote(name)}"
        if kind == "S":
            conn.execute(text(f"REVOKE ALL ON SEQUENCE {target} FROM {who}"))
            conn.execute(text(f"GRANT {SEQUENCE_RIGHTS} ON SEQUENCE {target} TO {who}"))
        else:
            conn.execute(text(f"REVOKE ALL ON TABLE {target} FROM {who}"))
            rights = SPECIAL_TABLE_RIGHTS.get(name, TABLE_RIGHTS)
            conn.execute(text(f"GRANT {rights} ON TABLE {target} TO {who}"))
    in_schema = f"IN SCHEMA {quote(schema)}"
    conn.execute(
        text(f"ALTER DEFAULT PRIVILEGES {in_schema} GRANT {TABLE_RIGHTS} ON TABLES TO {who}")
    )
    conn.execute(
        text(f"ALTER DEFAULT PRIVILEGES {in_schema} GRANT {SEQUENCE_RIGHTS} ON SEQUENCES TO {who}")
    )
    # Nobody but the owner creates in the schema (PostgreSQL 15's default for new databases;
    # older ones granted CREATE to everybody).
    owns_schema = conn.execute(
        text(
            "SELECT pg_has_role(current_user, nspowner, 'USAGE') FROM pg_namespace "
            "WHERE nspname = current_schema()"
        )
    ).scalar_one()
    if owns_schema:
        conn.execute(text(f"REVOKE CREATE ON SCHEMA {quote(schema)} FROM PUBLIC, {who}"))
