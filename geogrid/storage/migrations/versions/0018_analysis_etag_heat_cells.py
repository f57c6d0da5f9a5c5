"""Analysis at page speed, the rest: the ETag probe as one indexed read, and heatmap cells
counted per day as issues are written.

The ETag of an ``/analysis/*`` or ``/maps/*`` answer reads the district's three revisions and
what the passing of time changed (:func:`geogrid.analysis.stores.clock_marks`): "away until"
instants passed, grids active in the window, issues reported after now. Those counts scanned
``grid_activity`` joined to ``grids`` and the district's issues. Here each gets an index that
answers its count by a range of one index: ``grid_activity`` carries its grid's district
(set by a trigger, whoever inserts) and its latest activity as a stored column, ``staff`` a
partial index of the away, ``issues`` one on (district, reported_at).

``issue_cell_day_counts`` holds issues per ~100 m heatmap cell, Beijing day, category and
status, kept by a statement trigger on ``issues`` in the writing transaction (whoever writes),
so a heatmap's window is a sum over a small table rather than a scan and a snap of every
issue. A cell is a pair of integers (:mod:`geogrid.analysis.heatmap`): the row ``cy`` is the
latitude in steps of 100 m, the column ``cx`` the longitude in steps 100 m wide at that row's
latitude. Derived: ``geogrid analysis rebuild`` refills it.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The cell of a point at 100 m: the expressions of geogrid.analysis.heatmap.cell_columns,
# in double precision like its bound parameter, so both give the same integers.
_DY = "(100.0::float8 / 111320.0::float8)"
_CY = f"round(ST_Y({{g}}) / {_DY})::integer"
_CX = (
    f"round(ST_X({{g}}) * greatest(cos(radians(round(ST_Y({{g}}) / {_DY}) * {_DY})), 0.01) "
    f"/ {_DY})::integer"
)
_DAY = "(timezone('Asia/Shanghai', {t}))::date"


def _count(rows: str, sign: str, where: str) -> str:
    """Add ``sign`` x the rows of a transition table to their cells, then drop the cells of
    the touched districts and days that fell to zero (a range of the primary key)."""
    return f"""
    INSERT INTO issue_cell_day_counts AS c (district_adcode, day, cx, cy, category_id, status, n)
    SELECT r.district_adcode, {_DAY.format(t="r.reported_at")},
           {_CX.format(g="r.geom")}, {_CY.format(g="r.geom")}, r.category_id, r.status,
           {sign} count(*)
    FROM {rows} AS r WHERE r.geom IS NOT NULL {where}
    GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (district_adcode, day, cx, cy, category_id, status)
    DO UPDATE SET n = c.n + excluded.n;
    DELETE FROM issue_cell_day_counts c
    WHERE c.n = 0 AND (c.district_adcode, c.day) IN (
        SELECT r.district_adcode, {_DAY.format(t="r.reported_at")} FROM {rows} AS r);
    """


# An update moves an issue between cells only when its district, time, category, status or
# place changed: a status transition of one issue touches two cells, not the district.
_MOVED = """
    AND r.id IN (
        SELECT o.id FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.district_adcode, o.reported_at, o.category_id, o.status,
               ST_X(o.geom), ST_Y(o.geom))
              IS DISTINCT FROM (n.district_adcode, n.reported_at, n.category_id, n.status,
                                ST_X(n.geom), ST_Y(n.geom)))
"""
_HEAT = f"""
CREATE FUNCTION geogrid_issues_heat_cells() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_count("new_rows", "", "")}
    ELSIF TG_OP = 'DELETE' THEN
        {_count("old_rows", "-", "")}
    ELSE
        {_count("old_rows", "-", _MOVED)}
        {_count("new_rows", "", _MOVED)}
    END IF;
    RETURN NULL;
END $$;
"""

_TRANSITIONS = {
    "insert": "NEW TABLE AS new_rows",
    "update": "NEW TABLE AS new_rows OLD TABLE AS old_rows",
    "delete": "OLD TABLE AS old_rows",
}


def upgrade() -> None:
    op.execute("ALTER TABLE grid_activity ADD COLUMN district_adcode varchar(6)")
    op.execute(
        "ALTER TABLE grid_activity ADD COLUMN last_at timestamptz "
        "GENERATED ALWAYS AS (greatest(last_issue_at, last_event_at)) STORED"
    )
    op.execute(
        "UPDATE grid_activity a SET district_adcode = g.district_adcode "
        "FROM grids g WHERE g.id = a.grid_id"
    )
    # The activity rows are inserted by several trigger functions of migration 0013; one
    # BEFORE trigger gives every row its district instead of changing each of them.
    op.execute(
        """
        CREATE FUNCTION geogrid_grid_activity_district() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            NEW.district_adcode := (SELECT district_adcode FROM grids WHERE id = NEW.grid_id);
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER grid_activity_district BEFORE INSERT ON grid_activity "
        "FOR EACH ROW EXECUTE FUNCTION geogrid_grid_activity_district()"
    )
    op.execute(
        "CREATE INDEX ix_grid_activity_district_last_at ON grid_activity (district_adcode, last_at)"
    )
    op.create_index(
        "ix_staff_district_away_until",
        "staff",
        ["district_adcode", "away_until"],
        postgresql_where="availability = 'away'",
    )
    op.create_index("ix_issues_district_reported_at", "issues", ["district_adcode", "reported_at"])

    op.create_table(
        "issue_cell_day_counts",
        sa.Column("district_adcode", sa.String(length=6), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("cx", sa.Integer(), nullable=False),
        sa.Column("cy", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "district_adcode",
            "day",
            "cx",
            "cy",
            "category_id",
            "status",
            name=op.f("pk_issue_cell_day_counts"),
        ),
    )
    op.execute(_HEAT)
    for event, transition in _TRANSITIONS.items():
        op.execute(
            f"CREATE TRIGGER issues_heat_cells_{event} AFTER {event.upper()} ON issues "
            f"REFERENCING {transition} FOR EACH STATEMENT "
            "EXECUTE FUNCTION geogrid_issues_heat_cells()"
        )
    op.execute(
        f"""
        INSERT INTO issue_cell_day_counts (district_adcode, day, cx, cy, category_id, status, n)
        SELECT district_adcode, {_DAY.format(t="reported_at")}, {_CX.format(g="geom")},
               {_CY.format(g="geom")}, category_id, status, count(*)
        FROM issues WHERE geom IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6
        """
    )


def downgrade() -> None:
    for event in _TRANSITIONS:
        op.execute(f"DROP TRIGGER issues_heat_cells_{event} ON issues")
    op.execute("DROP FUNCTION geogrid_issues_heat_cells()")
    op.drop_table("issue_cell_day_counts")
    op.drop_index("ix_issues_district_reported_at", table_name="issues")
    op.drop_index("ix_staff_district_away_until", table_name="staff")
    op.execute("DROP TRIGGER grid_activity_district ON grid_activity")
    op.execute("DROP FUNCTION geogrid_grid_activity_district()")
    op.execute("ALTER TABLE grid_activity DROP COLUMN last_at, DROP COLUMN district_adcode")
