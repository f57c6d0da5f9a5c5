"""Boundary revision counter per district, bumped by triggers, with NOTIFY.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "geogrid_boundaries"


def upgrade() -> None:
    op.create_table(
        "boundary_revisions",
        sa.Column("district_adcode", sa.String(length=6), nullable=False),
        sa.Column("revision", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("district_adcode", name=op.f("pk_boundary_revisions")),
    )
    # One bump per statement, not per row: a 2 000-row import is one revision.
    op.execute(
        f"""
        CREATE FUNCTION geogrid_bump_boundary_revision() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO boundary_revisions AS b (district_adcode, revision, changed_at)
            SELECT DISTINCT g.district_adcode, 1, now() FROM grids g
            WHERE g.id IN (SELECT grid_id FROM changed_versions)
            ON CONFLICT (district_adcode)
            DO UPDATE SET revision = b.revision + 1, changed_at = now();
            PERFORM pg_notify('{CHANNEL}', '');
            RETURN NULL;
        END $$;
        CREATE FUNCTION geogrid_bump_boundary_revision_grids() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO boundary_revisions AS b (district_adcode, revision, changed_at)
            SELECT DISTINCT district_adcode, 1, now() FROM changed_grids
            ON CONFLICT (district_adcode)
            DO UPDATE SET revision = b.revision + 1, changed_at = now();
            PERFORM pg_notify('{CHANNEL}', '');
            RETURN NULL;
        END $$;
        """
    )
    for op_name in ("INSERT", "UPDATE", "DELETE"):
        table_ref = "OLD TABLE" if op_name == "DELETE" else "NEW TABLE"
        op.execute(
            f"CREATE TRIGGER grid_versions_bump_{op_name.lower()} AFTER {op_name} ON grid_versions "
            f"REFERENCING {table_ref} AS changed_versions FOR EACH STATEMENT "
            "EXECUTE FUNCTION geogrid_bump_boundary_revision()"
        )
        op.execute(
            f"CREATE TRIGGER grids_bump_{op_name.lower()} AFTER {op_name} ON grids "
            f"REFERENCING {table_ref} AS changed_grids FOR EACH STATEMENT "
            "EXECUTE FUNCTION geogrid_bump_boundary_revision_grids()"
        )


def downgrade() -> None:
    for op_name in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS grid_versions_bump_{op_name} ON grid_versions")
        op.execute(f"DROP TRIGGER IF EXISTS grids_bump_{op_name} ON grids")
    op.execute("DROP FUNCTION IF EXISTS geogrid_bump_boundary_revision()")
    op.execute("DROP FUNCTION IF EXISTS geogrid_bump_boundary_revision_grids()")
    op.drop_table("boundary_revisions")
