"""Bulk writes to issues stay linear: the analysis triggers plan their joins at each call.

The statement triggers that keep the analysis stores (``geogrid_issues_changed`` for the
per-grid day counts, ``geogrid_issues_heat_cells`` for the heatmap cells) join the ``old_rows``
and ``new_rows`` transition tables of an UPDATE. PL/pgSQL plans a static statement once per
connection and keeps the plan: planned for the one-row update that usually comes first (a
worker accepting an issue), the join is a nested loop, and the next bulk update on that
connection (the deadline escalation of 869 demo issues) ran it over every pair of rows: a
semi-join inside a nested loop, cubic, 293 s where a fresh plan takes under a second. Here the
statements that join the two transition tables run through ``EXECUTE``, planned at each call
with the real row counts of the transition tables (a hash join for a bulk update), and the
heat cells' "moved" test is a plain join instead of a semi-join over a join. What they compute
is unchanged: the stores' tests compare them with a computation from scratch.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The cell of a point at 100 m, as in 0018 (geogrid.analysis.heatmap.cell_columns).
_DY = "(100.0::float8 / 111320.0::float8)"
_CY = f"round(ST_Y({{g}}) / {_DY})::integer"
_CX = (
    f"round(ST_X({{g}}) * greatest(cos(radians(round(ST_Y({{g}}) / {_DY}) * {_DY})), 0.01) "
    f"/ {_DY})::integer"
)
_DAY = "(timezone('Asia/Shanghai', {t}))::date"


def _add_cells(rows: str, sign: str, join: str = "") -> str:
    """Add ``sign`` x the rows of a transition table to their heatmap cells (``join``: the
    other transition table and the test that the row moved between cells)."""
    return f"""
    INSERT INTO issue_cell_day_counts AS c (district_adcode, day, cx, cy, category_id, status, n)
    SELECT r.district_adcode, {_DAY.format(t="r.reported_at")},
           {_CX.format(g="r.geom")}, {_CY.format(g="r.geom")}, r.category_id, r.status,
           {sign} count(*)
    FROM {rows} AS r {join} WHERE r.geom IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (district_adcode, day, cx, cy, category_id, status)
    DO UPDATE SET n = c.n + excluded.n"""


def _drop_zero_cells(rows: str) -> str:
    """Drop the cells of the touched districts and days that fell to zero."""
    return f"""
    DELETE FROM issue_cell_day_counts c
    WHERE c.n = 0 AND (c.district_adcode, c.day) IN (
        SELECT r.district_adcode, {_DAY.format(t="r.reported_at")} FROM {rows} AS r)"""


def _moved(other: str) -> str:
    """Join a transition table row to its other image; keep it if it changed cell, day,
    category or status (a status transition of one issue touches two cells)."""
    return f"""
    JOIN {other} AS m ON m.id = r.id
        AND (r.district_adcode, r.reported_at, r.category_id, r.status, ST_X(r.geom), ST_Y(r.geom))
            IS DISTINCT FROM
            (m.district_adcode, m.reported_at, m.category_id, m.status, ST_X(m.geom), ST_Y(m.geom))
    """


def _dynamic(sql: str) -> str:
    return f"EXECUTE $q${sql}$q$;"


_HEAT = f"""
CREATE OR REPLACE FUNCTION geogrid_issues_heat_cells() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_add_cells("new_rows", "")};
        {_drop_zero_cells("new_rows")};
    ELSIF TG_OP = 'DELETE' THEN
        {_add_cells("old_rows", "-")};
        {_drop_zero_cells("old_rows")};
    ELSE
        -- planned at each call (EXECUTE): a plan kept from a one-row update is cubic in bulk
        {_dynamic(_add_cells("old_rows", "-", _moved("new_rows")))}
        {_dynamic(_drop_zero_cells("old_rows"))}
        {_dynamic(_add_cells("new_rows", "", _moved("old_rows")))}
        {_dynamic(_drop_zero_cells("new_rows"))}
    END IF;
    RETURN NULL;
END $$;
"""

_CHANGED_PAIRS = """
    FROM old_rows o JOIN new_rows n ON n.id = o.id JOIN issue_grids ig ON ig.issue_id = o.id"""
_STATUS_MOVED = """
    WHERE (o.status, o.category_id, o.reported_at) IS DISTINCT FROM
          (n.status, n.category_id, n.reported_at)"""
_PAIRS = """
    SELECT coalesce(jsonb_agg(jsonb_build_object('issue_id', ig.issue_id,
                                                 'grid_id', ig.grid_id)), '[]')"""

_CHANGED = f"""
CREATE OR REPLACE FUNCTION geogrid_issues_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    moved jsonb;
    moved_old jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM geogrid_bump_issue_revision(ARRAY(SELECT district_adcode FROM new_rows));
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        PERFORM geogrid_bump_issue_revision(ARRAY(SELECT district_adcode FROM old_rows));
        RETURN NULL;
    END IF;
    -- The joins of old_rows and new_rows are planned at each call (EXECUTE): a plan kept
    -- from a one-row update is a nested loop, quadratic for a bulk update.
    -- Remove the old cells by hand (the issue row already holds the new values).
    EXECUTE $q$
    INSERT INTO issue_grid_day_counts AS c (grid_id, day, category_id, status, n)
    SELECT ig.grid_id, (timezone('Asia/Shanghai', o.reported_at))::date, o.category_id,
           o.status, -count(*)
    {_CHANGED_PAIRS}
    {_STATUS_MOVED}
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (grid_id, day, category_id, status) DO UPDATE SET n = c.n + excluded.n$q$;
    EXECUTE $q${_PAIRS}{_CHANGED_PAIRS}{_STATUS_MOVED}$q$ INTO moved;
    PERFORM geogrid_count_tags(moved, 1);
    EXECUTE $q${_PAIRS}{_CHANGED_PAIRS}
    WHERE o.reported_at IS DISTINCT FROM n.reported_at$q$ INTO moved_old;
    IF moved_old <> '[]'::jsonb THEN
        PERFORM geogrid_refresh_grid_activity(ARRAY(
            SELECT DISTINCT (p->>'grid_id')::integer FROM jsonb_array_elements(moved_old) p));
    END IF;
    PERFORM geogrid_bump_issue_revision(ARRAY(SELECT district_adcode FROM new_rows
                                              UNION SELECT district_adcode FROM old_rows));
    RETURN NULL;
END $$;
"""

# The definitions of 0018 (heat cells) and 0013 (issues changed), as pg_get_functiondef
# prints them, for the downgrade.
_OLD_HEAT = r"""
CREATE OR REPLACE FUNCTION public.geogrid_issues_heat_cells()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    IF TG_OP = 'INSERT' THEN

    INSERT INTO issue_cell_day_counts AS c (district_adcode, day, cx, cy, category_id, status, n)
    SELECT r.district_adcode, (timezone('Asia/Shanghai', r.reported_at))::date,
           round(ST_X(r.geom) * greatest(cos(radians(round(ST_Y(r.geom) / (100.0::float8 / 111320.0::float8)) * (100.0::float8 / 111320.0::float8))), 0.01) / (100.0::float8 / 111320.0::float8))::integer, round(ST_Y(r.geom) / (100.0::float8 / 111320.0::float8))::integer, r.category_id, r.status,
            count(*)
    FROM new_rows AS r WHERE r.geom IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (district_adcode, day, cx, cy, category_id, status)
    DO UPDATE SET n = c.n + excluded.n;
    DELETE FROM issue_cell_day_counts c
    WHERE c.n = 0 AND (c.district_adcode, c.day) IN (
        SELECT r.district_adcode, (timezone('Asia/Shanghai', r.reported_at))::date FROM new_rows AS r);

    ELSIF TG_OP = 'DELETE' THEN

    INSERT INTO issue_cell_day_counts AS c (district_adcode, day, cx, cy, category_id, status, n)
    SELECT r.district_adcode, (timezone('Asia/Shanghai', r.reported_at))::date,
           round(ST_X(r.geom) * greatest(cos(radians(round(ST_Y(r.geom) / (100.0::float8 / 111320.0::float8)) * (100.0::float8 / 111320.0::float8))), 0.01) / (100.0::float8 / 111320.0::float8))::integer, round(ST_Y(r.geom) / (100.0::float8 / 111320.0::float8))::integer, r.category_id, r.status,
           - count(*)
    FROM old_rows AS r WHERE r.geom IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (district_adcode, day, cx, cy, category_id, status)
    DO UPDATE SET n = c.n + excluded.n;
    DELETE FROM issue_cell_day_counts c
    WHERE c.n = 0 AND (c.district_adcode, c.day) IN (
        SELECT r.district_adcode, (timezone('Asia/Shanghai', r.reported_at))::date FROM old_rows AS r);

    ELSE

    INSERT INTO issue_cell_day_counts AS c (district_adcode, day, cx, cy, category_id, status, n)
    SELECT r.district_adcode, (timezone('Asia/Shanghai', r.reported_at))::date,
           round(ST_X(r.geom) * greatest(cos(radians(round(ST_Y(r.geom) / (100.0::float8 / 111320.0::float8)) * (100.0::float8 / 111320.0::float8))), 0.01) / (100.0::float8 / 111320.0::float8))::integer, round(ST_Y(r.geom) / (100.0::float8 / 111320.0::float8))::integer, r.category_id, r.status,
           - count(*)
    FROM old_rows AS r WHERE r.geom IS NOT NULL
    AND r.id IN (
        SELECT o.id FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.district_adcode, o.reported_at, o.category_id, o.status,
               ST_X(o.geom), ST_Y(o.geom))
              IS DISTINCT FROM (n.district_adcode, n.reported_at, n.category_id, n.status,
                                ST_X(n.geom), ST_Y(n.geom)))

    GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (district_adcode, day, cx, cy, category_id, status)
    DO UPDATE SET n = c.n + excluded.n;
    DELETE FROM issue_cell_day_counts c
    WHERE c.n = 0 AND (c.district_adcode, c.day) IN (
        SELECT r.district_adcode, (timezone('Asia/Shanghai', r.reported_at))::date FROM old_rows AS r);


    INSERT INTO issue_cell_day_counts AS c (district_adcode, day, cx, cy, category_id, status, n)
    SELECT r.district_adcode, (timezone('Asia/Shanghai', r.reported_at))::date,
           round(ST_X(r.geom) * greatest(cos(radians(round(ST_Y(r.geom) / (100.0::float8 / 111320.0::float8)) * (100.0::float8 / 111320.0::float8))), 0.01) / (100.0::float8 / 111320.0::float8))::integer, round(ST_Y(r.geom) / (100.0::float8 / 111320.0::float8))::integer, r.category_id, r.status,
            count(*)
    FROM new_rows AS r WHERE r.geom IS NOT NULL
    AND r.id IN (
        SELECT o.id FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.district_adcode, o.reported_at, o.category_id, o.status,
               ST_X(o.geom), ST_Y(o.geom))
              IS DISTINCT FROM (n.district_adcode, n.reported_at, n.category_id, n.status,
                                ST_X(n.geom), ST_Y(n.geom)))

    GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (district_adcode, day, cx, cy, category_id, status)
    DO UPDATE SET n = c.n + excluded.n;
    DELETE FROM issue_cell_day_counts c
    WHERE c.n = 0 AND (c.district_adcode, c.day) IN (
        SELECT r.district_adcode, (timezone('Asia/Shanghai', r.reported_at))::date FROM new_rows AS r);

    END IF;
    RETURN NULL;
END $function$
"""
_OLD_CHANGED = r"""
CREATE OR REPLACE FUNCTION public.geogrid_issues_changed()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE
    moved jsonb;
    moved_old jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM geogrid_bump_issue_revision(ARRAY(SELECT district_adcode FROM new_rows));
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        PERFORM geogrid_bump_issue_revision(ARRAY(SELECT district_adcode FROM old_rows));
        RETURN NULL;
    END IF;
    -- Remove the old cells by hand (the issue row already holds the new values).
    INSERT INTO issue_grid_day_counts AS c (grid_id, day, category_id, status, n)
    SELECT ig.grid_id, (timezone('Asia/Shanghai', o.reported_at))::date, o.category_id, o.status, -count(*)
    FROM old_rows o JOIN new_rows n ON n.id = o.id
    JOIN issue_grids ig ON ig.issue_id = o.id
    WHERE (o.status, o.category_id, o.reported_at) IS DISTINCT FROM
          (n.status, n.category_id, n.reported_at)
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (grid_id, day, category_id, status) DO UPDATE SET n = c.n + excluded.n;
    SELECT coalesce(jsonb_agg(jsonb_build_object('issue_id', ig.issue_id,
                                                 'grid_id', ig.grid_id)), '[]')
    INTO moved
    FROM old_rows o JOIN new_rows n ON n.id = o.id JOIN issue_grids ig ON ig.issue_id = o.id
    WHERE (o.status, o.category_id, o.reported_at) IS DISTINCT FROM
          (n.status, n.category_id, n.reported_at);
    PERFORM geogrid_count_tags(moved, 1);
    SELECT coalesce(jsonb_agg(jsonb_build_object('issue_id', ig.issue_id,
                                                 'grid_id', ig.grid_id)), '[]')
    INTO moved_old
    FROM old_rows o JOIN new_rows n ON n.id = o.id JOIN issue_grids ig ON ig.issue_id = o.id
    WHERE o.reported_at IS DISTINCT FROM n.reported_at;
    IF moved_old <> '[]'::jsonb THEN
        PERFORM geogrid_refresh_grid_activity(ARRAY(
            SELECT DISTINCT (p->>'grid_id')::integer FROM jsonb_array_elements(moved_old) p));
    END IF;
    PERFORM geogrid_bump_issue_revision(ARRAY(SELECT district_adcode FROM new_rows
                                              UNION SELECT district_adcode FROM old_rows));
    RETURN NULL;
END $function$
"""


def upgrade() -> None:
    op.execute(_HEAT)
    op.execute(_CHANGED)


def downgrade() -> None:
    op.execute(_OLD_HEAT)
    op.execute(_OLD_CHANGED)
