"""Access: logins, tokens, Open311 client keys, row-level reach, an append-only audit trail,
reporters' contact details encrypted at rest.

Row-level security (forced, so it holds for the table owner too) reads two settings that the
API sets per transaction (``set_config(..., true)``):

* ``geogrid.reach``: empty or unset → a trusted context (migrations, the CLI, the demo loader,
  background jobs); ``*`` → everything (an admin); ``r:P1,P2`` → only grids whose code starts
  with one of the prefixes (``r:`` alone: nothing);
* ``geogrid.department``: the id of the caller's department, whose dispatched issues it sees.

Grids stay readable by everyone (their boundaries and signboards are public), but only grids in
reach can be written. Issues and everything hanging off them (reporters, events, photos, grid
tags) are visible and writable only in reach. ``geogrid.actor`` names who acts, for the audit
trigger.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The tables whose writes are audited, with the columns left out of before/after.
AUDITED: dict[str, tuple[str, ...]] = {
    "grids": (),
    "grid_versions": ("geom",),
    "grid_retirements": (),
    "staff": (),
    "grid_assignments": (),
    "party_organisations": (),
    "issues": ("geom",),
    "issue_reporters": ("name", "phone", "email"),
    "issue_photos": (),
    "issue_categories": (),
    "issue_category_attributes": (),
    "departments": (),
    "calendar_days": (),
    "addresses": ("geom",),
    "users": ("password_hash",),
    "auth_tokens": ("token_hash", "csrf_token"),
    "open311_keys": ("key_hash",),
}

#: Tables hanging off an issue: visible and writable when their issue is.
ISSUE_CHILDREN = ("issue_reporters", "issue_events", "issue_photos", "issue_grids")

_FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION geogrid_reach_unrestricted() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('geogrid.reach', true), '') IN ('', '*')
$$;

CREATE OR REPLACE FUNCTION geogrid_code_in_reach(code text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT public.geogrid_reach_unrestricted() OR EXISTS (
        SELECT 1
        FROM unnest(string_to_array(
            substr(current_setting('geogrid.reach', true), 3), ',')) AS p(prefix)
        WHERE p.prefix <> '' AND starts_with(code, p.prefix)
    )
$$;

-- Names are schema-qualified: a policy runs these in sessions with another search_path
-- (pg_dump empties it).
-- The ids of the grids in reach, computed once per statement (the policies call it in a
-- scalar subquery, which PostgreSQL runs once as an InitPlan, not once per row).
CREATE OR REPLACE FUNCTION geogrid_reach_grid_ids() RETURNS integer[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(g.id), '{}') FROM public.grids g
    WHERE public.geogrid_code_in_reach(g.code)
$$;

CREATE OR REPLACE FUNCTION geogrid_reach_department() RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT nullif(coalesce(current_setting('geogrid.department', true), ''), '')::integer
$$;

CREATE OR REPLACE FUNCTION geogrid_audit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_row jsonb := CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END;
    new_row jsonb := CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END;
    hidden text[] := TG_ARGV;
    row_data jsonb := coalesce(new_row, old_row);
    code text;
BEGIN
    old_row := old_row - hidden;
    new_row := new_row - hidden;
    IF TG_OP = 'UPDATE' AND old_row = new_row THEN
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'grids' THEN
        code := row_data ->> 'code';
    ELSIF row_data ? 'grid_id' AND (row_data ->> 'grid_id') IS NOT NULL THEN
        SELECT g.code INTO code FROM grids g WHERE g.id = (row_data ->> 'grid_id')::integer;
    ELSIF row_data ? 'issue_id' THEN
        SELECT g.code INTO code FROM issues i JOIN grids g ON g.id = i.grid_id
        WHERE i.id = (row_data ->> 'issue_id')::bigint;
    END IF;
    INSERT INTO audit_log (actor, table_name, operation, row_key, grid_code, before, after)
    VALUES (
        coalesce(nullif(current_setting('geogrid.actor', true), ''), 'system:' || current_user),
        TG_TABLE_NAME, TG_OP, row_data ->> 'id', code, old_row, new_row
    );
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION geogrid_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
"""


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=24), nullable=False),
        sa.Column(
            "reach",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "must_change_password", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('admin', 'district_officer', 'street_officer', 'community_officer', "
            "'grid_worker', 'department')",
            name=op.f("ck_users_role"),
        ),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_users_department_id_departments")
        ),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_users_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "auth_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('session', 'api')", name=op.f("ck_auth_tokens_kind")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_auth_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_auth_tokens_token_hash")),
    )
    op.create_index(op.f("ix_auth_tokens_user_id"), "auth_tokens", ["user_id"], unique=False)
    op.create_table(
        "login_failures",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    for column in ("username", "address", "at"):
        op.create_index(
            op.f(f"ix_login_failures_{column}"), "login_failures", [column], unique=False
        )
    op.create_table(
        "open311_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open311_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_open311_keys_key_hash")),
        sa.UniqueConstraint("name", name=op.f("uq_open311_keys_name")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("operation", sa.String(length=8), nullable=False),
        sa.Column("row_key", sa.Text(), nullable=True),
        sa.Column("grid_code", sa.String(length=18), nullable=True),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"], unique=False)
    op.create_index("ix_audit_log_table_name", "audit_log", ["table_name"], unique=False)

    # Fernet tokens are longer than the 32 characters a phone column held.
    op.alter_column("issue_reporters", "phone", type_=sa.Text(), existing_nullable=True)
    op.add_column(
        "issue_reporters", sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True)
    )

    op.execute(_FUNCTIONS)
    for table, hidden in AUDITED.items():
        args = ", ".join(f"'{c}'" for c in hidden)
        op.execute(
            f"CREATE TRIGGER geogrid_audit AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION geogrid_audit({args})"
        )
    op.execute(
        "CREATE TRIGGER geogrid_audit_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION geogrid_audit_append_only()"
    )
    op.execute(
        "CREATE TRIGGER geogrid_audit_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION geogrid_audit_append_only()"
    )
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC")
    # The application role of a deployment (scripts/up creates it, part B of issue 10) gets
    # plain DML and never owns a table, so it can neither drop the triggers nor the policies.
    op.execute(
        """
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'geogrid_app') THEN
                GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public
                    TO geogrid_app;
                GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO geogrid_app;
                REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM geogrid_app;
            END IF;
        END $$;
        """
    )

    # Row-level security, forced so the owner is bound too.
    op.execute("ALTER TABLE grids ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE grids FORCE ROW LEVEL SECURITY")
    op.execute("CREATE POLICY grids_read ON grids FOR SELECT USING (true)")
    op.execute(
        "CREATE POLICY grids_insert ON grids FOR INSERT WITH CHECK (geogrid_code_in_reach(code))"
    )
    op.execute(
        "CREATE POLICY grids_update ON grids FOR UPDATE USING (geogrid_code_in_reach(code)) "
        "WITH CHECK (geogrid_code_in_reach(code))"
    )
    op.execute("CREATE POLICY grids_delete ON grids FOR DELETE USING (geogrid_code_in_reach(code))")
    op.execute("ALTER TABLE grid_versions ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE grid_versions FORCE ROW LEVEL SECURITY")
    in_reach = (
        "((SELECT geogrid_reach_unrestricted()) "
        "OR grid_id = ANY ((SELECT geogrid_reach_grid_ids())::integer[]))"
    )
    op.execute("CREATE POLICY grid_versions_read ON grid_versions FOR SELECT USING (true)")
    op.execute(
        f"CREATE POLICY grid_versions_insert ON grid_versions FOR INSERT WITH CHECK ({in_reach})"
    )
    op.execute(f"CREATE POLICY grid_versions_update ON grid_versions FOR UPDATE USING ({in_reach})")
    op.execute(f"CREATE POLICY grid_versions_delete ON grid_versions FOR DELETE USING ({in_reach})")

    op.execute("ALTER TABLE issues ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE issues FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY issues_reach ON issues USING ("
        "(SELECT geogrid_reach_unrestricted()) "
        "OR grid_id = ANY ((SELECT geogrid_reach_grid_ids())::integer[]) "
        "OR department_id = (SELECT geogrid_reach_department())"
        ") WITH CHECK (true)"
    )
    for table in ISSUE_CHILDREN:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        # the subquery on issues is itself filtered by the issues policy
        op.execute(
            f"CREATE POLICY {table}_reach ON {table} USING "
            f"((SELECT geogrid_reach_unrestricted()) OR issue_id IN (SELECT i.id FROM issues i)) "
            "WITH CHECK (true)"
        )


def downgrade() -> None:
    for table in ("issues", *ISSUE_CHILDREN):
        op.execute(f"DROP POLICY IF EXISTS {table}_reach ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for table in ("grids", "grid_versions"):
        for kind in ("read", "insert", "update", "delete"):
            op.execute(f"DROP POLICY IF EXISTS {table}_{kind} ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for table in AUDITED:
        op.execute(f"DROP TRIGGER IF EXISTS geogrid_audit ON {table}")
    op.drop_table("audit_log")
    op.execute("DROP FUNCTION IF EXISTS geogrid_audit_append_only()")
    op.execute("DROP FUNCTION IF EXISTS geogrid_audit()")
    op.execute("DROP FUNCTION IF EXISTS geogrid_reach_department()")
    op.execute("DROP FUNCTION IF EXISTS geogrid_reach_grid_ids()")
    op.execute("DROP FUNCTION IF EXISTS geogrid_code_in_reach(text)")
    op.execute("DROP FUNCTION IF EXISTS geogrid_reach_unrestricted()")
    op.drop_column("issue_reporters", "purged_at")
    op.alter_column("issue_reporters", "phone", type_=sa.String(length=32), existing_nullable=True)
    op.drop_table("open311_keys")
    op.drop_table("login_failures")
    op.drop_table("auth_tokens")
    op.drop_table("users")
