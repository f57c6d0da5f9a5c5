"""Derived stores for analysis at page speed: issue revisions, per-grid activity and per-grid
daily issue counts (kept by triggers), and the territorial-gap and grid-display stores (kept by
the application, keyed by the boundary revision they were computed at).

Why triggers for the issue side: issues, their grid tags and their events are written by the
API, the importer, re-tagging after boundary edits, the demo loader and psql. A trigger keeps
the counts in the writing transaction whoever writes, so the stores can never lag the data.
Why the application for the territory side: uncovered territory and sibling overlaps cost
seconds of geometry per district; doing that inside every boundary edit would make each edit
that slow. They are recomputed once when a read finds the district's boundary revision moved
(:mod:`geogrid.analysis.stores`), under a per-district lock, and read afterwards by index.

Everything here is derived: ``geogrid analysis rebuild [--district]`` recomputes it all.

The issue revision counter itself (``issue_revisions``) comes from migration 0012 (the vector
tiles' ETags); its bump moves here, into the triggers that also keep the counts, so one write
bumps it once.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DAY = "(timezone('Asia/Shanghai', {t}))::date"

_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION geogrid_bump_issue_revision(districts text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(districts) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO issue_revisions AS r (district_adcode, revision, changed_at)
    SELECT d, 1, clock_timestamp()
    FROM (SELECT DISTINCT d FROM unnest(districts) AS d WHERE d IS NOT NULL) AS distinct_districts
    ORDER BY d  -- counter rows locked in one order: two writers cannot deadlock on them
    ON CONFLICT (district_adcode)
    DO UPDATE SET revision = r.revision + 1, changed_at = clock_timestamp();
END $$;

-- Recompute the activity of some grids from the issues and events (after deletes and
-- updates, where "the latest" may move back).
CREATE FUNCTION geogrid_refresh_grid_activity(grid_ids integer[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM grid_activity WHERE grid_id = ANY(grid_ids);
    INSERT INTO grid_activity (grid_id, last_issue_at, last_event_at)
    WITH tags AS (SELECT issue_id, grid_id FROM issue_grids WHERE grid_id = ANY(grid_ids)),
    reported AS (SELECT t.grid_id, max(i.reported_at) AS at
                 FROM tags t JOIN issues i ON i.id = t.issue_id GROUP BY t.grid_id),
    events AS (SELECT t.grid_id, max(e.at) AS at
               FROM tags t JOIN issue_events e ON e.issue_id = t.issue_id GROUP BY t.grid_id)
    SELECT r.grid_id, r.at, e.at FROM reported r LEFT JOIN events e ON e.grid_id = r.grid_id;
END $$;

-- Add (sign = 1) or remove (sign = -1) the issue/grid pairs of a set of tags to the counts.
CREATE FUNCTION geogrid_count_tags(pairs jsonb, sign integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO issue_grid_day_counts AS c (grid_id, day, category_id, status, n)
    SELECT p.grid_id, {_DAY.format(t="i.reported_at")}, i.category_id, i.status, sign * count(*)
    FROM jsonb_to_recordset(pairs) AS p(issue_id bigint, grid_id integer)
    JOIN issues i ON i.id = p.issue_id
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (grid_id, day, category_id, status) DO UPDATE SET n = c.n + excluded.n;
    DELETE FROM issue_grid_day_counts
    WHERE n = 0 AND grid_id IN (SELECT p.grid_id FROM jsonb_to_recordset(pairs)
                                AS p(issue_id bigint, grid_id integer));
END $$;

CREATE FUNCTION geogrid_issue_grids_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    touched integer[];
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        PERFORM geogrid_count_tags(
            (SELECT coalesce(jsonb_agg(jsonb_build_object('issue_id', issue_id,
                                                          'grid_id', grid_id)), '[]')
             FROM old_rows), -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM geogrid_count_tags(
            (SELECT coalesce(jsonb_agg(jsonb_build_object('issue_id', issue_id,
                                                          'grid_id', grid_id)), '[]')
             FROM new_rows), 1);
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO grid_activity AS a (grid_id, last_issue_at, last_event_at)
        SELECT n.grid_id, max(i.reported_at),
               max((SELECT max(e.at) FROM issue_events e WHERE e.issue_id = n.issue_id))
        FROM new_rows n JOIN issues i ON i.id = n.issue_id
        GROUP BY n.grid_id
        ON CONFLICT (grid_id) DO UPDATE SET
            last_issue_at = greatest(a.last_issue_at, excluded.last_issue_at),
            last_event_at = greatest(a.last_event_at, excluded.last_event_at);
        PERFORM geogrid_bump_issue_revision(ARRAY(
            SELECT i.district_adcode FROM issues i WHERE i.id IN (SELECT issue_id FROM new_rows)));
    ELSE
        IF TG_OP = 'DELETE' THEN
            touched := ARRAY(SELECT DISTINCT grid_id FROM old_rows);
        ELSE
            touched := ARRAY(SELECT grid_id FROM old_rows UNION SELECT grid_id FROM new_rows);
        END IF;
        PERFORM geogrid_refresh_grid_activity(touched);
        PERFORM geogrid_bump_issue_revision(ARRAY(
            SELECT g.district_adcode FROM grids g WHERE g.id = ANY(touched)));
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION geogrid_issue_events_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO grid_activity AS a (grid_id, last_issue_at, last_event_at)
        SELECT ig.grid_id, NULL, max(n.at)
        FROM new_rows n JOIN issue_grids ig ON ig.issue_id = n.issue_id
        GROUP BY ig.grid_id
        ON CONFLICT (grid_id) DO UPDATE SET
            last_event_at = greatest(a.last_event_at, excluded.last_event_at);
        PERFORM geogrid_bump_issue_revision(ARRAY(
            SELECT i.district_adcode FROM issues i WHERE i.id IN (SELECT issue_id FROM new_rows)));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM geogrid_refresh_grid_activity(ARRAY(
            SELECT DISTINCT ig.grid_id FROM issue_grids ig
            WHERE ig.issue_id IN (SELECT issue_id FROM old_rows)));
        PERFORM geogrid_bump_issue_revision(ARRAY(
            SELECT i.district_adcode FROM issues i WHERE i.id IN (SELECT issue_id FROM old_rows)));
    ELSE
        PERFORM geogrid_refresh_grid_activity(ARRAY(
            SELECT DISTINCT ig.grid_id FROM issue_grids ig
            WHERE ig.issue_id IN (SELECT issue_id FROM old_rows UNION
                                  SELECT issue_id FROM new_rows)));
        PERFORM geogrid_bump_issue_revision(ARRAY(
            SELECT i.district_adcode FROM issues i WHERE i.id IN (SELECT issue_id FROM new_rows)));
    END IF;
    RETURN NULL;
END $$;

-- An issue whose status, category or report time changes moves between count cells.
CREATE FUNCTION geogrid_issues_changed() RETURNS trigger
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
    -- Remove the old cells by hand (the issue row already holds the new values).
    INSERT INTO issue_grid_day_counts AS c (grid_id, day, category_id, status, n)
    SELECT ig.grid_id, {_DAY.format(t="o.reported_at")}, o.category_id, o.status, -count(*)
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
END $$;

-- Before an issue goes, its tags go (counted out while the issue row is still there to say
-- which day, category and status they were counted under); the cascade then finds none.
CREATE FUNCTION geogrid_issue_untag_before_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM issue_grids WHERE issue_id = OLD.id;
    RETURN OLD;
END $$;
"""

_TRANSITIONS = {
    "INSERT": "NEW TABLE AS new_rows",
    "UPDATE": "NEW TABLE AS new_rows OLD TABLE AS old_rows",
    "DELETE": "OLD TABLE AS old_rows",
}
_TRIGGERS = {
    "issue_grids": "geogrid_issue_grids_changed",
    "issue_events": "geogrid_issue_events_changed",
    "issues": "geogrid_issues_changed",
}


_TILE_BUMPS = ("insert", "update", "delete")


def upgrade() -> None:
    # migration 0012's bump on issues is taken over by the triggers below
    for event in _TILE_BUMPS:
        op.execute(f"DROP TRIGGER IF EXISTS issues_bump_{event} ON issues")
    op.execute("DROP FUNCTION IF EXISTS geogrid_bump_issue_revision_issues()")
    op.create_table(
        "grid_activity",
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("last_issue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["grid_id"],
            ["grids.id"],
            name=op.f("fk_grid_activity_grid_id_grids"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("grid_id", name=op.f("pk_grid_activity")),
    )
    op.create_table(
        "issue_grid_day_counts",
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "grid_id", "day", "category_id", "status", name=op.f("pk_issue_grid_day_counts")
        ),
    )
    op.create_index("ix_issue_grid_day_counts_day", "issue_grid_day_counts", ["day"])
    op.create_table(
        "analysis_store_state",
        sa.Column("district_adcode", sa.String(length=6), nullable=False),
        sa.Column("store", sa.String(length=32), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("district_adcode", "store", name=op.f("pk_analysis_store_state")),
    )
    op.create_table(
        "analysis_territory_gaps",
        sa.Column("district_adcode", sa.String(length=6), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("area_m2", sa.Float(precision=53), nullable=False),
        sa.Column("geometry", sa.Text(), nullable=False),
        sa.Column("extra", sa.dialects.postgresql.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint(
            "district_adcode", "kind", "seq", name=op.f("pk_analysis_territory_gaps")
        ),
    )
    op.create_index(
        "ix_analysis_territory_gaps_level", "analysis_territory_gaps", ["district_adcode", "level"]
    )
    op.create_table(
        "analysis_grid_display",
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("district_adcode", sa.String(length=6), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("display", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("grid_id", name=op.f("pk_analysis_grid_display")),
    )
    op.create_index(
        "ix_analysis_grid_display_district", "analysis_grid_display", ["district_adcode", "code"]
    )
    op.create_table(
        "analysis_misplaced",
        sa.Column("district_adcode", sa.String(length=6), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("row", sa.dialects.postgresql.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("district_adcode", "seq", name=op.f("pk_analysis_misplaced")),
    )
    op.execute(_FUNCTIONS)
    for table, function in _TRIGGERS.items():
        for event, tables in _TRANSITIONS.items():
            op.execute(
                f"CREATE TRIGGER {table}_analysis_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )
    op.execute(
        "CREATE TRIGGER issues_analysis_untag BEFORE DELETE ON issues "
        "FOR EACH ROW EXECUTE FUNCTION geogrid_issue_untag_before_delete()"
    )
    # Issues already in the database (the demo, a live district): fill the stores once.
    op.execute(
        "INSERT INTO issue_revisions (district_adcode, revision) "
        "SELECT DISTINCT district_adcode, 1 FROM issues ON CONFLICT DO NOTHING"
    )
    op.execute(
        "SELECT geogrid_refresh_grid_activity(ARRAY(SELECT DISTINCT grid_id FROM issue_grids))"
    )
    op.execute(
        f"""
        INSERT INTO issue_grid_day_counts (grid_id, day, category_id, status, n)
        SELECT ig.grid_id, {_DAY.format(t="i.reported_at")}, i.category_id, i.status, count(*)
        FROM issue_grids ig JOIN issues i ON i.id = ig.issue_id GROUP BY 1, 2, 3, 4
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS issues_analysis_untag ON issues")
    for table in _TRIGGERS:
        for event in _TRANSITIONS:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_analysis_{event.lower()} ON {table}")
    for function in (
        *(f"{f}()" for f in _TRIGGERS.values()),
        "geogrid_issue_untag_before_delete()",
        "geogrid_count_tags(jsonb, integer)",
        "geogrid_refresh_grid_activity(integer[])",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    for table in (
        "analysis_misplaced",
        "analysis_grid_display",
        "analysis_territory_gaps",
        "analysis_store_state",
        "issue_grid_day_counts",
        "grid_activity",
    ):
        op.drop_table(table)
    _restore_tile_bumps()


def _restore_tile_bumps() -> None:
    """Migration 0012's bump on issues, as it was (a migration is a snapshot: copied, not
    imported)."""
    op.execute(
        """
        CREATE OR REPLACE FUNCTION geogrid_bump_issue_revision(districts text[]) RETURNS void
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
