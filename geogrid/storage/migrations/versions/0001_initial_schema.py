"""Initial schema: admin areas, versioned grids, staff and posts, departments, issues, addresses.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 23:58:39.334992
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Needs a superuser when PostGIS is not yet installed in the database (scripts/ do it).
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_geospatial_table(
        "admin_areas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("district_adcode", sa.String(length=6), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("source", sa.Text(), server_default="generated", nullable=False),
        sa.Column(
            "seat",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "code ~ '^[0-9]{6}([0-9]{3}([0-9]{3})?)?$'", name=op.f("ck_admin_areas_code_digits")
        ),
        sa.CheckConstraint(
            "level IN ('district', 'street', 'town', 'community', 'village')",
            name=op.f("ck_admin_areas_level"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["admin_areas.id"], name=op.f("fk_admin_areas_parent_id_admin_areas")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_areas")),
        sa.UniqueConstraint("code", name=op.f("uq_admin_areas_code")),
    )
    op.create_index(
        op.f("ix_admin_areas_district_adcode"), "admin_areas", ["district_adcode"], unique=False
    )
    op.create_geospatial_index(
        "ix_admin_areas_geom",
        "admin_areas",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_admin_areas_parent_id"), "admin_areas", ["parent_id"], unique=False)
    op.create_table(
        "departments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("district_adcode", sa.String(length=6), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_departments")),
        sa.UniqueConstraint(
            "district_adcode", "code", name=op.f("uq_departments_district_adcode_code")
        ),
    )
    op.create_index(
        op.f("ix_departments_district_adcode"), "departments", ["district_adcode"], unique=False
    )
    op.create_table(
        "staff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("district_adcode", sa.String(length=6), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("availability", sa.String(length=16), server_default="on_duty", nullable=False),
        sa.Column("away_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "availability IN ('on_duty', 'away')", name=op.f("ck_staff_availability")
        ),
        sa.CheckConstraint(
            "role IN ('grid_chief', 'grid_worker', 'dedicated_worker', 'auxiliary')",
            name=op.f("ck_staff_role"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
    )
    op.create_index(op.f("ix_staff_district_adcode"), "staff", ["district_adcode"], unique=False)
    op.create_geospatial_table(
        "addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("district_adcode", sa.String(length=6), nullable=False),
        sa.Column("full_text", sa.Text(), nullable=False),
        sa.Column("normalized", sa.Text(), nullable=False),
        sa.Column("town", sa.Text(), nullable=True),
        sa.Column("community", sa.Text(), nullable=True),
        sa.Column("road", sa.Text(), nullable=True),
        sa.Column("road_number", sa.String(length=16), nullable=True),
        sa.Column("estate", sa.Text(), nullable=True),
        sa.Column("building", sa.String(length=16), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=True),
        sa.Column("admin_area_id", sa.Integer(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("source", sa.Text(), server_default="import", nullable=False),
        sa.ForeignKeyConstraint(
            ["admin_area_id"],
            ["admin_areas.id"],
            name=op.f("fk_addresses_admin_area_id_admin_areas"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_addresses")),
        sa.UniqueConstraint(
            "district_adcode", "full_text", name=op.f("uq_addresses_district_adcode_full_text")
        ),
    )
    op.create_index(
        op.f("ix_addresses_admin_area_id"), "addresses", ["admin_area_id"], unique=False
    )
    op.create_index(
        op.f("ix_addresses_district_adcode"), "addresses", ["district_adcode"], unique=False
    )
    op.create_geospatial_index(
        "ix_addresses_geom",
        "addresses",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index("ix_addresses_normalized", "addresses", ["normalized"], unique=False)
    op.create_table(
        "grids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=18), nullable=False),
        sa.Column("district_adcode", sa.String(length=6), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), server_default="general", nullable=False),
        sa.Column("dedicated_type", sa.String(length=32), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("admin_area_id", sa.Integer(), nullable=True),
        sa.Column("current_version", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(kind = 'dedicated') = (dedicated_type IS NOT NULL)",
            name=op.f("ck_grids_dedicated_type_iff"),
        ),
        sa.CheckConstraint(
            "code ~ '^[0-9]{12}([0-9]{3}){0,2}$'", name=op.f("ck_grids_code_digits")
        ),
        sa.CheckConstraint(
            "dedicated_type IS NULL OR dedicated_type IN ('school', 'hospital', 'market', 'enterprise', 'park', 'government', 'scenic_area', 'construction_site', 'other')",
            name=op.f("ck_grids_dedicated_type"),
        ),
        sa.CheckConstraint("kind IN ('general', 'dedicated')", name=op.f("ck_grids_kind")),
        sa.CheckConstraint(
            "(level = 1) = (parent_id IS NULL)", name=op.f("ck_grids_parent_iff_not_level1")
        ),
        sa.CheckConstraint("level IN (1, 2, 3)", name=op.f("ck_grids_level")),
        sa.ForeignKeyConstraint(
            ["admin_area_id"], ["admin_areas.id"], name=op.f("fk_grids_admin_area_id_admin_areas")
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["grids.id"], name=op.f("fk_grids_parent_id_grids")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grids")),
        sa.UniqueConstraint("code", name=op.f("uq_grids_code")),
    )
    op.create_index(op.f("ix_grids_admin_area_id"), "grids", ["admin_area_id"], unique=False)
    op.create_index(op.f("ix_grids_district_adcode"), "grids", ["district_adcode"], unique=False)
    op.create_index(op.f("ix_grids_parent_id"), "grids", ["parent_id"], unique=False)
    op.create_table(
        "issue_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("default_level", sa.String(length=16), server_default="grid", nullable=False),
        sa.Column("deadline_hours", sa.Integer(), server_default="72", nullable=False),
        sa.Column(
            "deadline_working_time", sa.Boolean(), server_default=sa.text("true"), nullable=False
        ),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.CheckConstraint(
            "default_level IN ('grid', 'community', 'street', 'department', 'district')",
            name=op.f("ck_issue_categories_default_level"),
        ),
        sa.CheckConstraint(
            "deadline_hours > 0", name=op.f("ck_issue_categories_deadline_positive")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_issue_categories_department_id_departments"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["issue_categories.id"],
            name=op.f("fk_issue_categories_parent_id_issue_categories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_categories")),
        sa.UniqueConstraint("code", name=op.f("uq_issue_categories_code")),
    )
    op.create_index(
        op.f("ix_issue_categories_parent_id"), "issue_categories", ["parent_id"], unique=False
    )
    op.create_table(
        "grid_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("post", sa.String(length=1), nullable=True),
        sa.Column(
            "valid_from",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "post IS NULL OR post IN ('A', 'B')", name=op.f("ck_grid_assignments_post")
        ),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["grids.id"], name=op.f("fk_grid_assignments_grid_id_grids")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_grid_assignments_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_assignments")),
    )
    op.create_index(
        op.f("ix_grid_assignments_grid_id"), "grid_assignments", ["grid_id"], unique=False
    )
    op.create_index(
        op.f("ix_grid_assignments_staff_id"), "grid_assignments", ["staff_id"], unique=False
    )
    op.create_index(
        "uq_grid_assignments_current_post",
        "grid_assignments",
        ["grid_id", "post"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL AND post IS NOT NULL"),
    )
    op.create_index(
        "uq_grid_assignments_current_staff",
        "grid_assignments",
        ["grid_id", "staff_id"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_geospatial_table(
        "grid_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("estate_type", sa.String(length=16), nullable=True),
        sa.Column("households", sa.Integer(), nullable=True),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("area_m2", sa.Double(), nullable=False),
        sa.Column(
            "valid_from",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changed_by", sa.Text(), server_default="system", nullable=False),
        sa.Column("change_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "estate_type IS NULL OR estate_type IN ('managed', 'work_unit', 'three_no', 'self_built')",
            name=op.f("ck_grid_versions_estate_type"),
        ),
        sa.CheckConstraint(
            "households IS NULL OR households >= 0", name=op.f("ck_grid_versions_households_nonneg")
        ),
        sa.CheckConstraint(
            "population IS NULL OR population >= 0", name=op.f("ck_grid_versions_population_nonneg")
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to >= valid_from",
            name=op.f("ck_grid_versions_validity_order"),
        ),
        sa.ForeignKeyConstraint(
            ["grid_id"],
            ["grids.id"],
            name=op.f("fk_grid_versions_grid_id_grids"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_versions")),
        sa.UniqueConstraint("grid_id", "version", name=op.f("uq_grid_versions_grid_id_version")),
    )
    op.create_geospatial_index(
        "ix_grid_versions_geom",
        "grid_versions",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        "ix_grid_versions_validity", "grid_versions", ["valid_from", "valid_to"], unique=False
    )
    op.create_index(
        "uq_grid_versions_current",
        "grid_versions",
        ["grid_id"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_geospatial_table(
        "issues",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("district_adcode", sa.String(length=6), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("address_text", sa.Text(), nullable=True),
        sa.Column("address_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), server_default="resident", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="reported", nullable=False),
        sa.Column("handling_level", sa.String(length=16), server_default="grid", nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("grid_version", sa.Integer(), nullable=True),
        sa.Column("routing_note", sa.Text(), nullable=True),
        sa.Column("assignee_staff_id", sa.Integer(), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("duplicate_of_id", sa.BigInteger(), nullable=True),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("rating", sa.String(length=24), nullable=True),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column(
            "reported_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("row_version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "handling_level IN ('grid', 'community', 'street', 'department', 'district')",
            name=op.f("ck_issues_handling_level"),
        ),
        sa.CheckConstraint(
            "rating IS NULL OR rating IN ('satisfied', 'basically_satisfied', 'unsatisfied')",
            name=op.f("ck_issues_rating"),
        ),
        sa.CheckConstraint(
            "source IN ('resident', 'grid_round', 'hotline', 'mini_program', 'open311', 'import')",
            name=op.f("ck_issues_source"),
        ),
        sa.CheckConstraint(
            "status IN ('reported', 'accepted', 'rejected', 'duplicate', 'discussing', 'decided', 'in_progress', 'resolved', 'verified', 'evaluated', 'closed')",
            name=op.f("ck_issues_status"),
        ),
        sa.ForeignKeyConstraint(
            ["address_id"], ["addresses.id"], name=op.f("fk_issues_address_id_addresses")
        ),
        sa.ForeignKeyConstraint(
            ["assignee_staff_id"], ["staff.id"], name=op.f("fk_issues_assignee_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["issue_categories.id"],
            name=op.f("fk_issues_category_id_issue_categories"),
        ),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_issues_department_id_departments")
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of_id"], ["issues.id"], name=op.f("fk_issues_duplicate_of_id_issues")
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["grids.id"], name=op.f("fk_issues_grid_id_grids")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issues")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_issues_idempotency_key")),
    )
    op.create_index(
        op.f("ix_issues_assignee_staff_id"), "issues", ["assignee_staff_id"], unique=False
    )
    op.create_index(op.f("ix_issues_category_id"), "issues", ["category_id"], unique=False)
    op.create_index(op.f("ix_issues_department_id"), "issues", ["department_id"], unique=False)
    op.create_index(op.f("ix_issues_district_adcode"), "issues", ["district_adcode"], unique=False)
    op.create_geospatial_index(
        "ix_issues_geom",
        "issues",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_issues_grid_id"), "issues", ["grid_id"], unique=False)
    op.create_index("ix_issues_reported_at", "issues", ["reported_at"], unique=False)
    op.create_index("ix_issues_status", "issues", ["status"], unique=False)
    op.create_table(
        "party_organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("secretary", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('branch', 'group')", name=op.f("ck_party_organisations_kind")),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["grids.id"], name=op.f("fk_party_organisations_grid_id_grids")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_organisations")),
    )
    op.create_index(
        op.f("ix_party_organisations_grid_id"), "party_organisations", ["grid_id"], unique=False
    )
    op.create_table(
        "issue_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("issue_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column(
            "data",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_events_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_events")),
    )
    op.create_index(op.f("ix_issue_events_issue_id"), "issue_events", ["issue_id"], unique=False)
    op.create_table(
        "issue_grids",
        sa.Column("issue_id", sa.BigInteger(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("grid_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["grids.id"], name=op.f("fk_issue_grids_grid_id_grids")
        ),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_grids_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("issue_id", "grid_id", name=op.f("pk_issue_grids")),
    )
    op.create_index(op.f("ix_issue_grids_grid_id"), "issue_grids", ["grid_id"], unique=False)
    op.create_table(
        "issue_reporters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_reporters_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_reporters")),
    )
    op.create_index(
        op.f("ix_issue_reporters_issue_id"), "issue_reporters", ["issue_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_issue_reporters_issue_id"), table_name="issue_reporters")
    op.drop_table("issue_reporters")
    op.drop_index(op.f("ix_issue_grids_grid_id"), table_name="issue_grids")
    op.drop_table("issue_grids")
    op.drop_index(op.f("ix_issue_events_issue_id"), table_name="issue_events")
    op.drop_table("issue_events")
    op.drop_index(op.f("ix_party_organisations_grid_id"), table_name="party_organisations")
    op.drop_table("party_organisations")
    op.drop_index("ix_issues_status", table_name="issues")
    op.drop_index("ix_issues_reported_at", table_name="issues")
    op.drop_index(op.f("ix_issues_grid_id"), table_name="issues")
    op.drop_geospatial_index(
        "ix_issues_geom", table_name="issues", postgresql_using="gist", column_name="geom"
    )
    op.drop_index(op.f("ix_issues_district_adcode"), table_name="issues")
    op.drop_index(op.f("ix_issues_department_id"), table_name="issues")
    op.drop_index(op.f("ix_issues_category_id"), table_name="issues")
    op.drop_index(op.f("ix_issues_assignee_staff_id"), table_name="issues")
    op.drop_geospatial_table("issues")
    op.drop_index(
        "uq_grid_versions_current",
        table_name="grid_versions",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_index("ix_grid_versions_validity", table_name="grid_versions")
    op.drop_geospatial_index(
        "ix_grid_versions_geom",
        table_name="grid_versions",
        postgresql_using="gist",
        column_name="geom",
    )
    op.drop_geospatial_table("grid_versions")
    op.drop_index(
        "uq_grid_assignments_current_staff",
        table_name="grid_assignments",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_index(
        "uq_grid_assignments_current_post",
        table_name="grid_assignments",
        postgresql_where=sa.text("valid_to IS NULL AND post IS NOT NULL"),
    )
    op.drop_index(op.f("ix_grid_assignments_staff_id"), table_name="grid_assignments")
    op.drop_index(op.f("ix_grid_assignments_grid_id"), table_name="grid_assignments")
    op.drop_table("grid_assignments")
    op.drop_index(op.f("ix_issue_categories_parent_id"), table_name="issue_categories")
    op.drop_table("issue_categories")
    op.drop_index(op.f("ix_grids_parent_id"), table_name="grids")
    op.drop_index(op.f("ix_grids_district_adcode"), table_name="grids")
    op.drop_index(op.f("ix_grids_admin_area_id"), table_name="grids")
    op.drop_table("grids")
    op.drop_index("ix_addresses_normalized", table_name="addresses")
    op.drop_geospatial_index(
        "ix_addresses_geom", table_name="addresses", postgresql_using="gist", column_name="geom"
    )
    op.drop_index(op.f("ix_addresses_district_adcode"), table_name="addresses")
    op.drop_index(op.f("ix_addresses_admin_area_id"), table_name="addresses")
    op.drop_geospatial_table("addresses")
    op.drop_index(op.f("ix_staff_district_adcode"), table_name="staff")
    op.drop_table("staff")
    op.drop_index(op.f("ix_departments_district_adcode"), table_name="departments")
    op.drop_table("departments")
    op.drop_index(op.f("ix_admin_areas_parent_id"), table_name="admin_areas")
    op.drop_geospatial_index(
        "ix_admin_areas_geom", table_name="admin_areas", postgresql_using="gist", column_name="geom"
    )
    op.drop_index(op.f("ix_admin_areas_district_adcode"), table_name="admin_areas")
    op.drop_geospatial_table("admin_areas")
