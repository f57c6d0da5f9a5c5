"""SQLAlchemy 2 models of the geogrid schema (PostGIS, SRID 4326).

The schema is owned by Alembic (``geogrid/storage/migrations``); a test checks that
autogenerate finds no difference between these models and the migrations.

Design notes
------------
* Grids are versioned the way MapIt versions areas: the identity (``grids``: stable code, level,
  kind, parent) never changes, and every change of boundary or attributes is a new row of
  ``grid_versions`` valid over ``[valid_from, valid_to)``. The current version has
  ``valid_to IS NULL``; "the boundaries as they stood on a day" is a range filter.
* Codes are never reused: a retired grid keeps its row and its code (``retired_at``).
* Every table that belongs to a district carries ``district_adcode`` so one installation can
  serve a city or a province.
* Enumerations are ``CHECK`` constraints on text columns, easier to extend in a migration than
  PostgreSQL enum types.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    FetchedValue,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from geogrid.vocabulary import (
    ADMIN_LEVELS,
    AVAILABILITY,
    DEDICATED_TYPES,
    ESTATE_TYPES,
    GRID_KINDS,
    HANDLING_LEVELS,
    ISSUE_SOURCES,
    ISSUE_STATUSES,
    PARTY_ORG_KINDS,
    POSTS,
    RATINGS,
    STAFF_ROLES,
    TOKEN_KINDS,
    USER_ROLES,
)

__all__ = [
    "Address",
    "AdminArea",
    "AuditEntry",
    "AuthToken",
    "Base",
    "BoundaryRevision",
    "Department",
    "Grid",
    "GridAssignment",
    "GridVersion",
    "Issue",
    "IssueCategory",
    "IssueEvent",
    "IssueGrid",
    "IssueReporter",
    "IssueRevision",
    "LoginFailure",
    "Open311Key",
    "PartyOrganisation",
    "Staff",
    "User",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


def _tstz() -> DateTime:
    return DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AdminArea(Base):
    """A division of the statistical code tree: district (6 digits), street/town (9), community/
    village (12). Community/village geometry equals its level-1 grid at creation."""

    __tablename__ = "admin_areas"
    __table_args__ = (
        CheckConstraint(_in("level", ADMIN_LEVELS), name="level"),
        CheckConstraint("code ~ '^[0-9]{6}([0-9]{3}([0-9]{3})?)?$'", name="code_digits"),
        Index("ix_admin_areas_geom", "geom", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("admin_areas.id"), index=True)
    district_adcode: Mapped[str] = mapped_column(String(6), index=True)
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)
    )
    source: Mapped[str] = mapped_column(Text, server_default="generated")
    seat: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(_tstz(), server_default=func.now())


class Grid(Base):
    """The identity of a grid: its code never changes and is never reused.

    ``retired_at``, the open version and the open ``grid_retirements`` row say the same thing
    (and ``current_version`` is the open version): migration 0010's deferred constraint triggers
    refuse a commit where they disagree (triggers are not models, so they live only there).
    """

    __tablename__ = "grids"
    __table_args__ = (
        CheckConstraint("level IN (1, 2, 3)", name="level"),
        CheckConstraint(_in("kind", GRID_KINDS), name="kind"),
        CheckConstraint(
            "(kind = 'dedicated') = (dedicated_type IS NOT NULL)", name="dedicated_type_iff"
        ),
        CheckConstraint(
            f"dedicated_type IS NULL OR {_in('dedicated_type', DEDICATED_TYPES)}",
            name="dedicated_type",
        ),
        CheckConstraint("code ~ '^[0-9]{12}([0-9]{3}){0,2}$'", name="code_digits"),
        CheckConstraint("(level = 1) = (parent_id IS NULL)", name="parent_iff_not_level1"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(18), unique=True)
    district_adcode: Mapped[str] = mapped_column(String(6), index=True)
    level: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[str] = mapped_column(String(16), server_default="general")
    dedicated_type: Mapped[str | None] = mapped_column(String(32))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)
    admin_area_id: Mapped[int | None] = mapped_column(ForeignKey("admin_areas.id"), index=True)
    current_version: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[datetime] = mapped_column(_tstz(), server_default=func.now())
    retired_at: Mapped[datetime | None] = mapped_column(_tstz())

    versions: Mapped[list[GridVersion]] = relationship(
        back_populates="grid", order_by="GridVersion.version"
    )


class GridVersion(Base):
    """One version of a grid's boundary and attributes, valid over ``[valid_from, valid_to)``."""

    __tablename__ = "grid_versions"
    __table_args__ = (
        UniqueConstraint("grid_id", "version"),
        CheckConstraint(
            f"estate_type IS NULL OR {_in('estate_type', ESTATE_TYPES)}", name="estate_type"
        ),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="validity_order"),
        CheckConstraint("households IS NULL OR households >= 0", name="households_nonneg"),
        CheckConstraint("population IS NULL OR population >= 0", name="population_nonneg"),
        Index(
            "uq_grid_versions_current",
            "grid_id",
            unique=True,
            postgresql_where=text("valid_to IS NULL"),
        ),
        Index("ix_grid_versions_geom", "geom", postgresql_using="gist"),
        # a tile's candidates: one district's part of the envelope (migration 0021)
        Index("ix_grid_versions_district_geom", "district_adcode", "geom", postgresql_using="gist"),
        Index("ix_grid_versions_validity", "valid_from", "valid_to"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id", ondelete="CASCADE"))
    #: the grid's district, copied from it on insert by a trigger (migration 0021)
    district_adcode: Mapped[str] = mapped_column(String(6), server_default=FetchedValue())
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)
    estate_type: Mapped[str | None] = mapped_column(String(16))
    households: Mapped[int | None] = mapped_column(Integer)
    population: Mapped[int | None] = mapped_column(Integer)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)
    )
    area_m2: Mapped[float] = mapped_column(Double)
    valid_from: Mapped[datetime] = mapped_column(_tstz(), server_default=func.now())
    valid_to: Mapped[datetime | None] = mapped_column(_tstz())
    changed_by: Mapped[str] = mapped_column(Text, server_default="system")
    change_reason: Mapped[str | None] = mapped_column(Text)

    grid: Mapped[Grid] = relationship(back_populates="versions")


class Staff(Base):
    """A person on the grid team. ``phone`` is the public work phone shown on the signboard."""

    __tablename__ = "staff"
    __table_args__ = (
        CheckConstraint(_in("role", STAFF_ROLES), name="role"),
        CheckConstraint(_in("availability", AVAILABILITY), name="availability"),
        # the ETag probe counts the "away until" passed (migration 0021)
        Index(
            "ix_staff_district_away_until",
            "district_adcode",
            "away_until",
            postgresql_where=text("availability = 'away'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    district_adcode: Mapped[str] = mapped_column(String(6), index=True)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(32))
    availability: Mapped[str] = mapped_column(String(16), server_default="on_duty")
    away_until: Mapped[datetime | None] = mapped_column(_tstz())
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(_tstz(), server_default=func.now())


class GridAssignment(Base):
    """Staff on a grid: post A (primary) or B (backup, covers when A is away) or a plain member
    (``post`` NULL, e.g. a grid chief or an auxiliary). Ended assignments keep their row."""

    __tablename__ = "grid_assignments"
    __table_args__ = (
        CheckConstraint(f"post IS NULL OR {_in('post', POSTS)}", name="post"),
        Index(
            "uq_grid_assignments_current_post",
            "grid_id",
            "post",
            unique=True,
            postgresql_where=text("valid_to IS NULL AND post IS NOT NULL"),
        ),
        Index(
            "uq_grid_assignments_current_staff",
            "grid_id",
            "staff_id",
            unique=True,
            postgresql_where=text("valid_to IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    post: Mapped[str | None] = mapped_column(String(1))
    valid_from: Mapped[datetime] = mapped_column(_tstz(), server_default=func.now())
    valid_to: Mapped[datetime | None] = mapped_column(_tstz())


class PartyOrganisation(Base):
    """网格党支部 (branch, on a level-1 grid) or 党小组 (group, on a level-2 grid)."""

    __tablename__ = "party_organisations"
    __table_args__ = (CheckConstraint(_in("kind", PARTY_ORG_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"), index=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    secretary: Mapped[str | None] = mapped_column(Text)


class Department(Base):
    """A government department that issues can be dispatched to (社区吹哨、部门报到)."""

    __tablename__ = "departments"
    __table_args__ = (UniqueConstraint("district_adcode", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    district_adcode: Mapped[str] = mapped_column(String(6), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class IssueCategory(Base):
    """Two-level taxonomy: a class (parent NULL) and its subclasses."""

    __tablename__ = "issue_categories"
    __table_args__ = (
        CheckConstraint(_in("default_level", HANDLING_LEVELS), name="default_level"),
        CheckConstraint("deadline_hours > 0", name="deadline_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("issue_categories.id"), index=True)
    default_level: Mapped[str] = mapped_column(String(16), server_default="grid")
    deadline_hours: Mapped[int] = mapped_column(Integer, server_default="72")
    deadline_working_time: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    description: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


#: What the dashboard summary reads of an issue, and what its row-security policy tests.
_PERIOD_COVERED = [
    "id",
    "deadline_at",
    "resolved_at",
    "status",
    "rating",
    "grid_id",
    "department_id",
]


class Issue(Base):
    """A problem reported on the map. Public fields only: the reporter's contact lives in
    :class:`IssueReporter`, so ordinary reads never carry it."""

    __tablename__ = "issues"
    __table_args__ = (
        CheckConstraint(_in("status", ISSUE_STATUSES), name="status"),
        CheckConstraint(_in("source", ISSUE_SOURCES), name="source"),
        CheckConstraint(_in("handling_level", HANDLING_LEVELS), name="handling_level"),
        CheckConstraint(f"rating IS NULL OR {_in('rating', RATINGS)}", name="rating"),
        Index("ix_issues_geom", "geom", postgresql_using="gist"),
        Index("ix_issues_reported_at", "reported_at"),
        # the ETag probe counts a district's issues after now (migration 0021)
        # and the summary reads a period's issues from these two alone (migration 0020)
        Index(
            "ix_issues_district_reported_at",
            "district_adcode",
            "reported_at",
            postgresql_include=["closed_at", *_PERIOD_COVERED],
        ),
        Index(
            "ix_issues_district_closed_at",
            "district_adcode",
            "closed_at",
            postgresql_include=["reported_at", *_PERIOD_COVERED],
        ),
        Index("ix_issues_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    district_adcode: Mapped[str] = mapped_column(String(6), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("issue_categories.id"), index=True)
    description: Mapped[str] = mapped_column(Text)
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    address_text: Mapped[str | None] = mapped_column(Text)
    address_id: Mapped[int | None] = mapped_column(ForeignKey("addresses.id"))
    source: Mapped[str] = mapped_column(String(16), server_default="resident")
    status: Mapped[str] = mapped_column(String(16), server_default="reported")
    handling_level: Mapped[str] = mapped_column(String(16), server_default="grid")
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)
    grid_version: Mapped[int | None] = mapped_column(Integer)
    routing_note: Mapped[str | None] = mapped_column(Text)
    assignee_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id"), index=True)
    decision: Mapped[str | None] = mapped_column(Text)
    resolution: Mapped[str | None] = mapped_column(Text)
    rating: Mapped[str | None] = mapped_column(String(24))
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    reported_at: Mapped[datetime] = mapped_column(_tstz(), server_default=func.now())
    accepted_at: Mapped[datetime | None] = mapped_column(_tstz())
    deadline_at: Mapped[datetime | None] = mapped_column(_tstz())
    resolved_at: Mapped[datetime | None] = mapped_column(_tstz())
    closed_at: Mapped[datetime | None] = mapped_column(_tstz())
    updated_at: Mapped[datetime] = mapped_column(_tstz(), server_default=func.now())
    row_version: Mapped[int] = mapped_column(Integer, server_default="1")
    # migration 0009: SHA-256 of the report that first used ``idempotency_key``, so a replayed
    # key with a different body is refused instead of silently answered with the first issue.
    idempotency_hash: Mapped[str | None] = mapped_column(String(64))


class IssueGrid(Base):
    """Every grid an issue falls in (its general chain and its dedicated grids), with the
    version of the grid in force when it was tagged."""

    __tablename__ = "issue_grids"

    issue_id: Mapped[int] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True
    )
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"), primary_key=True, index=True)
    grid_version: Mapped[int] = mapped_column(Integer)


class IssueReporter(Base):
    """Who reported an issue. Private: masked for everyone who does not need it."""

    __tablename__ = "issue_reporters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(Text)
    # Encrypted at rest (Fernet tokens, migration 0016): see ``geogrid.auth.privacy``.
    phone: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(_tstz(), server_default=func.now())
    email: Mapped[str | None] = mapped_column(Text)  # migration 0009 (Open311 ``email``)
    #: When the contact details were removed by ``geogrid privacy purge`` (migration 0016).
    purged_at: Mapped[datetime | None] = mapped_column(_tstz())


class IssueEvent(Base):
    """The workflow log: every transition, escalation, dispatch and re-tag of an issue."""

    __tablename__ = "issue_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(_tstz(), server_default=func.now())
    actor: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class Address(Base):
    """A standard address (标准地址): the registry the locate service matches text against."""

    __tablename__ = "addresses"
    __table_args__ = (
        UniqueConstraint("district_adcode", "full_text"),
        Index("ix_addresses_geom", "geom", postgresql_using="gist"),
        Index("ix_addresses_normalized", "normalized"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    district_adcode: Mapped[str] = mapped_column(String(6), index=True)
    full_text: Mapped[str] = mapped_column(Text)
    normalized: Mapped[str] = mapped_column(Text)
    town: Mapped[str | None] = mapped_column(Text)
    community: Mapped[str | None] = mapped_column(Text)
    road: Mapped[str | None] = mapped_column(Text)
    road_number: Mapped[str | None] = mapped_column(String(16))
    estate: Mapped[str | None] = mapped_column(Text)
    building: Mapped[str | None] = mapped_column(String(16))
    unit: Mapped[str | None] = mapped_column(String(16))
    admin_area_id: Mapped[int | None] = mapped_column(ForeignKey("admin_areas.id"), index=True)
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    source: Mapped[str] = mapped_column(Text, server_default="import")


class BoundaryRevision(Base):
    """A counter per district, bumped by a trigger on every change to grids or grid versions
    (whoever writes: the API, an import, psql), with a ``NOTIFY geogrid_boundaries``. In-memory
    indexes compare it to know they are stale, even when another process made the change."""

    __tablename__ = "boundary_revisions"

    district_adcode: Mapped[str] = mapped_column(String(6), primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, server_default="0")
    changed_at: Mapped[datetime] = mapped_column(_tstz(), server_default=func.now())


# -- issues: photos and Open311 service definitions (migration 0004) ------------------------------

PHOTO_CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp")
ATTRIBUTE_DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
"""The Open311 GeoReport v2 attribute datatypes."""


class IssuePhoto(Base):
    """A photo of an issue: a file we stored (``stored_name`` under the photos directory) or a
    link a client gave us (Open311 ``media_url``)."""

    __tablename__ = "issue_photos"
    __table_args__ = (
        CheckConstraint("stored_name IS NOT NULL OR url IS NOT NULL", name="file_or_url"),
        CheckConstraint(
            f"content_type IS NULL OR {_in('content_type', PHOTO_CONTENT_TYPES)}",
            name="content_type",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    stored_name: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(String(32))
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(Text, server_default="anonymous")
    created_at: Mapped[datetime] = mapped_column(_tstz(), server_default=func.now())


class IssueCategoryAttribute(Base):
    """An extra question a category asks (an Open311 service-definition attribute)."""

    __tablename__ = "issue_category_attributes"
    __table_args__ = (
        UniqueConstraint("category_id", "code"),
        CheckConstraint(_in("datatype", ATTRIBUTE_DATATYPES), name="datatype"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category_id: Mapped[int] = mapped_column(
        ForeignKey("issue_categories.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(64))
    datatype: Mapped[str] = mapped_column(String(16), server_default="string")
    required: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    description: Mapped[str] = mapped_column(Text)
    datatype_description: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, server_default="0")
    values: Mapped[list[dict[str, str]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))


# -- locate: staff revision counter (migration 0007) ----------------------------------------------


class StaffRevision(Base):
    """A counter per district, bumped by triggers on every change to ``staff``,
    ``grid_assignments`` or ``party_organisations`` (whoever writes), with a ``NOTIFY
    geogrid_staff``. Cached signboards compare it, with :class:`BoundaryRevision`, to know they
    are stale."""

    __tablename__ = "staff_revisions"

    district_adcode: Mapped[str] = mapped_column(String(6), primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, server_default="0")
    changed_at: Mapped[datetime] = mapped_column(_tstz(), server_default=func.now())


# -- grids: who retired a grid, when and why (migration 0008) -------------------------------------

RETIRE_OPERATIONS = ("retire", "split", "merge")


class GridRetirement(Base):
    """One retirement of a grid: who, when, why, and by which operation; and, if the grid was
    brought back (``POST /grids/{code}/restore``), who restored it and when.

    A row per retirement rather than columns on ``grids``, because a grid can be retired,
    restored and retired again, and each of those is history; and not a row of
    ``grid_versions``, whose rows are boundaries in force (``at=`` reads, exports, OGC).
    ``version`` is the version that was in force when the grid was retired.
    """

    __tablename__ = "grid_retirements"
    __table_args__ = (
        CheckConstraint(_in("operation", RETIRE_OPERATIONS), name="operation"),
        CheckConstraint(
            "restored_at IS NULL OR restored_at >= retired_at", name="restored_after_retired"
        ),
        Index(
            "uq_grid_retirements_open",
            "grid_id",
            unique=True,
            postgresql_where=text("restored_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    operation: Mapped[str] = mapped_column(String(16), server_default="retire")
    retired_at: Mapped[datetime] = mapped_column(_tstz())
    retired_by: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    restored_at: Mapped[datetime | None] = mapped_column(_tstz())
    restored_by: Mapped[str | None] = mapped_column(Text)
    restore_reason: Mapped[str | None] = mapped_column(Text)


# -- issues: working-time calendar (migration 0009) -----------------------------------------------


class CalendarDay(Base):
    """A day that breaks the Mon–Fri rule: a public holiday (``is_workday`` false) or a make-up
    working day (调休上班, ``is_workday`` true, often a Saturday). ``district_adcode`` NULL is the
    national calendar; a district's own row for the same day overrides it. Deadlines in working
    hours (``geogrid.issues.calendar``) skip nights, weekends and these holidays."""

    __tablename__ = "calendar_days"
    __table_args__ = (
        UniqueConstraint("district_adcode", "day", postgresql_nulls_not_distinct=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    district_adcode: Mapped[str | None] = mapped_column(String(6))
    day: Mapped[date] = mapped_column(Date, index=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(_tstz(), server_default=func.now())


# -- tiles: issue revision counter (migration 0012) -----------------------------------------------


class IssueRevision(Base):
    """A counter per district, bumped by a statement-level trigger on every change to ``issues``
    (whoever writes). Issue vector tiles take their ETag from it, so an unchanged tile answers
    304 without reading the issues."""

    __tablename__ = "issue_revisions"

    district_adcode: Mapped[str] = mapped_column(String(6), primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, server_default="0")
    changed_at: Mapped[datetime] = mapped_column(_tstz(), server_default=func.now())


# -- access: logins, tokens, client keys, the audit trail (migration 0016) ------------------------


class User(Base):
    """A login. ``reach`` holds the grid-code prefixes an officer sees (a district officer's is
    the district adcode); a grid worker's reach is read from their current posts
    (``staff_id``), a department's from the issues dispatched to it (``department_id``)."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", USER_ROLES), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(24))
    reach: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'::text[]"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    must_change_password: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(_tstz(), server_default=func.now())
    disabled_at: Mapped[datetime | None] = mapped_column(_tstz())


class AuthToken(Base):
    """A page session (cookie, with its CSRF token) or an API bearer token. Only the SHA-256
    of the secret is kept, so a read of this table logs nobody in."""

    __tablename__ = "auth_tokens"
    __table_args__ = (CheckConstraint(_in("kind", TOKEN_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(Text)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(_tstz(), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(_tstz())
    revoked_at: Mapped[datetime | None] = mapped_column(_tstz())
    last_used_at: Mapped[datetime | None] = mapped_column(_tstz())


class LoginFailure(Base):
    """A refused login, kept for the per-account and per-address throttles."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(_tstz(), index=True)


class Open311Key(Base):
    """An Open311 ``api_key`` issued to one client application (hashed, revocable)."""

    __tablename__ = "open311_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(_tstz(), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(_tstz())


class AuditEntry(Base):
    """One write, recorded by a trigger whoever makes it: who (``geogrid.actor`` of the
    transaction), when, which row, and the row before and after (secrets and reporters'
    contact details left out). Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_table_name", "table_name"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(_tstz(), server_default=func.now())
    actor: Mapped[str] = mapped_column(Text)
    table_name: Mapped[str] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(8))
    row_key: Mapped[str | None] = mapped_column(Text)
    grid_code: Mapped[str | None] = mapped_column(String(18))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


# -- rounds: visits and patrols of grid workers (migration 0020) ------------------------------


class Visit(Base):
    """A door-to-door visit (走访): the household or address, a note, when. Counts as activity
    of its grid for the gaps map, as an issue event does. ``client_key`` makes a resent visit
    (a phone that lost its answer) one row."""

    __tablename__ = "visits"
    __table_args__ = (Index("ix_visits_grid_at", "grid_id", "visited_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    actor: Mapped[str] = mapped_column(Text)
    household: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    lon: Mapped[float | None] = mapped_column(Double)
    lat: Mapped[float | None] = mapped_column(Double)
    visited_at: Mapped[datetime] = mapped_column(_tstz())
    client_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(_tstz(), server_default=func.now())


class Patrol(Base):
    """A patrol (巡查) of a grid: start, end and the GPS track in :class:`PatrolPoint`."""

    __tablename__ = "patrols"
    __table_args__ = (Index("ix_patrols_grid_started", "grid_id", "started_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    actor: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(_tstz())
    ended_at: Mapped[datetime | None] = mapped_column(_tstz())
    client_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(_tstz(), server_default=func.now())


class PatrolPoint(Base):
    """One GPS fix of a patrol, numbered by the phone (``seq``): the key makes a resent piece
    harmless and the track's order the walker's, whatever order the pieces arrived in."""

    __tablename__ = "patrol_points"

    patrol_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("patrols.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    lon: Mapped[float] = mapped_column(Double)
    lat: Mapped[float] = mapped_column(Double)
    accuracy_m: Mapped[float | None] = mapped_column(Double)
    recorded_at: Mapped[datetime] = mapped_column(_tstz())


# -- proposed grids (migration 0013) -------------------------------------------------------------

PROPOSAL_STATUSES = ("draft", "applied", "discarded")


class GridProposal(Base):
    """A proposed partition of a grid into child grids (智能划网), stored as a draft until an
    officer applies or discards it. ``based_on`` holds the versions of the parent's current
    children it was computed from: applying refuses when any of them changed since."""

    __tablename__ = "grid_proposals"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'applied', 'discarded')", name="proposal_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    district_adcode: Mapped[str] = mapped_column(String(6), index=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("grids.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), server_default="draft")
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(_tstz())
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB)
    based_on: Mapped[dict[str, Any]] = mapped_column(JSONB)
    features: Mapped[dict[str, Any]] = mapped_column(JSONB)
    figures: Mapped[dict[str, Any]] = mapped_column(JSONB)
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(_tstz())
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
