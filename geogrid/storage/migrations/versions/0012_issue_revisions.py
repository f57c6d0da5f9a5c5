"""Issue revision counter per district, bumped by statement-level triggers on issues.

Why: vector tiles of issues (``/tiles/issues/...``) carry an ETag that must change whenever an
issue of the district is reported, moved, re-classified, re-statused or deleted, whoever writes
(the API, an import, psql), and a tile request that did not change must answer 304 without
scanning the issues. One single-row read of this counter gives that, as ``boundary_revisions``
(migration 0002) does for grids. One bump per statement and district, so a 50 000-row import is
one revision; the row lock it takes is held to the writer's commit, like the boundary counter's.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "issue_revisions",
        sa.Column("district_adcode", sa.String(length=6), nullable=False),
        sa.Column("revision", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("district_adcode", name=op.f("pk_issue_revisions")),
    )
    # Districts in adcode order, so two writers touching the same districts lock the counter
    # rows in the same order and cannot deadlock on them.
    op.execute(
        """
        CREATE FUNCTION geogrid_bump_issue_revision(districts text[]) RETURNS void
        LANGUAGE sql AS $$
            INSERT INTO issue_revisions AS r (district_adcode, revision, changed_at)
            SELECT DISTINCT d, 1, now() FROM unnest(districts) AS d WHERE d IS NOT NULL
            ORDER BY d
            ON CONFLICT (district_adcode)
            DO UPDATE SET revision = r.revision + 1, changed_at = now();
        $$;
        CREATE FUNCTION geogrid_bump_issue_revision_issues() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                PERFORM geogrid_bump_issue_revision(ARRAY(SELECT district_adcode FROM new_rows));
            ELSIF TG_OP = 'DELETE' THEN
                PERFORM geogrid_bump_issue_revision(ARRAY(SELECT district_adcode FROM old_rows));
            ELSE
                PERFORM geogrid_bump_issue_revision(ARRAY(
                    SELECT district_adcode FROM new_rows
                    UNION SELECT district_adcode FROM old_rows));
            END IF;
            RETURN NULL;
        END $$;
        """
    )
    for op_name, refs in (
        ("INSERT", "NEW TABLE AS new_rows"),
        ("UPDATE", "NEW TABLE AS new_rows OLD TABLE AS old_rows"),
        ("DELETE", "OLD TABLE AS old_rows"),
    ):
        op.execute(
            f"CREATE TRIGGER issues_bump_{op_name.lower()} AFTER {op_name} ON issues "
            f"REFERENCING {refs} FOR EACH STATEMENT "
            "EXECUTE FUNCTION geogrid_bump_issue_revision_issues()"
        )


def downgrade() -> None:
    for op_name in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS issues_bump_{op_name} ON issues")
    op.execute("DROP FUNCTION IF EXISTS geogrid_bump_issue_revision_issues()")
    op.execute("DROP FUNCTION IF EXISTS geogrid_bump_issue_revision(text[])")
    op.drop_table("issue_revisions")
