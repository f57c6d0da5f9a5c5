"""Staff revision counter per district, bumped by triggers on staff, grid_assignments and
party_organisations (with NOTIFY geogrid_staff); admin_areas changes bump the boundary revision.

Why: GET /locate answers signboards from memory. One single-row read of both counters per
request tells whether the cached grids *and* the cached people are still current, whoever
changed them (the API, an import, psql) — so a worker marked away shows on the very next lookup.

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "geogrid_staff"

# Per table: how a changed row names its district (``rows`` is the transition table).
_DISTRICT_OF = {
    "staff": "SELECT district_adcode FROM {rows}",
    "grid_assignments": (
        "SELECT g.district_adcode FROM grids g WHERE g.id IN (SELECT grid_id FROM {rows})"
    ),
    "party_organisations": (
        "SELECT g.district_adcode FROM grids g WHERE g.id IN (SELECT grid_id FROM {rows})"
    ),
}


def _bump_function(table: str) -> str:
    """A statement-level trigger function for ``table``: one bump per statement and district.

    Transition tables differ by event (INSERT has only new rows, DELETE only old ones, UPDATE
    both: a staff member moved between districts bumps both), so the function branches on
    TG_OP; PL/pgSQL plans each branch only when it runs.
    """
    new, old = (
        _DISTRICT_OF[table].format(rows="new_rows"),
        _DISTRICT_OF[table].format(rows="old_rows"),
    )
    return f"""
        CREATE FUNCTION geogrid_bump_staff_revision_{table}() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                PERFORM geogrid_bump_staff_revision(ARRAY({new}));
            ELSIF TG_OP = 'DELETE' THEN
                PERFORM geogrid_bump_staff_revision(ARRAY({old}));
            ELSE
                PERFORM geogrid_bump_staff_revision(ARRAY({new} UNION {old}));
            END IF;
            RETURN NULL;
        END $$;
    """


def upgrade() -> None:
    op.create_table(
        "staff_revisions",
        sa.Column("district_adcode", sa.String(length=6), nullable=False),
        sa.Column("revision", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("district_adcode", name=op.f("pk_staff_revisions")),
    )
    op.execute(
        f"""
        CREATE FUNCTION geogrid_bump_staff_revision(districts text[]) RETURNS void
        LANGUAGE plpgsql AS $$
        BEGIN
            IF cardinality(districts) = 0 THEN
                RETURN;  -- a statement that touched no row changes nothing
            END IF;
            INSERT INTO staff_revisions AS s (district_adcode, revision, changed_at)
            SELECT DISTINCT d, 1, now() FROM unnest(districts) AS d WHERE d IS NOT NULL
            ON CONFLICT (district_adcode)
            DO UPDATE SET revision = s.revision + 1, changed_at = now();
            PERFORM pg_notify('{CHANNEL}', '');
        END $$;
        CREATE FUNCTION geogrid_bump_staff_revision_all() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE staff_revisions SET revision = revision + 1, changed_at = now();
            PERFORM pg_notify('{CHANNEL}', '');
            RETURN NULL;
        END $$;
        CREATE FUNCTION geogrid_bump_boundary_revision_admin() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO boundary_revisions AS b (district_adcode, revision, changed_at)
            SELECT DISTINCT district_adcode, 1, now() FROM changed_admin_areas
            ON CONFLICT (district_adcode)
            DO UPDATE SET revision = b.revision + 1, changed_at = now();
            PERFORM pg_notify('geogrid_boundaries', '');
            RETURN NULL;
        END $$;
        """
    )
    # The demo (or a live district) may predate this migration: start its counter at 1.
    op.execute(
        "INSERT INTO staff_revisions (district_adcode, revision) "
        "SELECT DISTINCT district_adcode, 1 FROM staff"
    )
    for table in _DISTRICT_OF:
        op.execute(_bump_function(table))
        for event in ("INSERT", "UPDATE", "DELETE"):
            tables = {
                "INSERT": "NEW TABLE AS new_rows",
                "UPDATE": "NEW TABLE AS new_rows OLD TABLE AS old_rows",
                "DELETE": "OLD TABLE AS old_rows",
            }[event]
            op.execute(
                f"CREATE TRIGGER {table}_bump_staff_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING {tables} FOR EACH STATEMENT "
                f"EXECUTE FUNCTION geogrid_bump_staff_revision_{table}()"
            )
        op.execute(
            f"CREATE TRIGGER {table}_bump_staff_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION geogrid_bump_staff_revision_all()"
        )
    # Admin areas are part of the in-memory locate index (street/town, community/village).
    for event in ("INSERT", "UPDATE", "DELETE"):
        table_ref = "OLD TABLE" if event == "DELETE" else "NEW TABLE"
        op.execute(
            f"CREATE TRIGGER admin_areas_bump_{event.lower()} AFTER {event} ON admin_areas "
            f"REFERENCING {table_ref} AS changed_admin_areas FOR EACH STATEMENT "
            "EXECUTE FUNCTION geogrid_bump_boundary_revision_admin()"
        )


def downgrade() -> None:
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS admin_areas_bump_{event} ON admin_areas")
    for table in _DISTRICT_OF:
        for event in ("insert", "update", "delete", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_bump_staff_{event} ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS geogrid_bump_staff_revision_{table}()")
    op.execute("DROP FUNCTION IF EXISTS geogrid_bump_boundary_revision_admin()")
    op.execute("DROP FUNCTION IF EXISTS geogrid_bump_staff_revision_all()")
    op.execute("DROP FUNCTION IF EXISTS geogrid_bump_staff_revision(text[])")
    op.drop_table("staff_revisions")
