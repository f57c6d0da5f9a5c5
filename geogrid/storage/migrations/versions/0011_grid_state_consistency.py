"""The database keeps a grid's "current" and "retired" fields consistent.

What is in force is written in three places: ``grids.retired_at``, the open version
(``grid_versions.valid_to IS NULL``) and the open ``grid_retirements`` row; and "current" in
two: the open version and ``grids.current_version``. Until now only the code that retires,
restores and edits grids kept them in step. From here on the database refuses, at commit, any
grid whose fields disagree:

* a grid that is not retired has exactly one open version, and it is ``current_version``
  (at most one open version was already a partial unique index, ``uq_grid_versions_current``);
* a retired grid has no open version, its last version ended at ``retired_at`` (so "in force
  at t" reads the same from versions alone as with the retirement), and exactly one open
  ``grid_retirements`` row, retired at the same instant;
* ``current_version`` is the grid's highest version number.

Why a deferred constraint trigger rather than one field as the single source: each field is
read where it is cheap and means something of its own. ``retired_at`` filters grids without a
join, the open version is the boundary every point lookup joins, the retirement row is the
who/why/restored-by history, and ``current_version`` is the number an ETag compares under a
row lock. Deriving the others (a view, or generated columns, which cannot look at other rows)
would put a join or an aggregate on every hot query and touch every reader of the schema.
Keeping the fields and letting the database check them keeps every reader as it is and makes
an inconsistent write impossible, whoever writes (the API, the CLI, a manual SQL fix).

Why deferred (``DEFERRABLE INITIALLY DEFERRED``): a retirement closes the version, sets
``retired_at`` and inserts the retirement row in three statements; in between the grid is
necessarily half-done. The check runs once per touched grid at commit (or at
``SET CONSTRAINTS ALL IMMEDIATE``, which the tests use inside their rolled-back transactions).

The upgrade checks every existing grid first, so a database that is already inconsistent says
which grid and why instead of failing on its next unrelated edit.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHECK_FUNCTION = r"""
CREATE FUNCTION grid_state_check(gid integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    g record;
    n_open integer;
    open_version integer;
    max_version integer;
    last_end timestamptz;
    n_retirements integer;
    retirement_at timestamptz;
    problem text;
BEGIN
    SELECT id, code, retired_at, current_version INTO g FROM grids WHERE id = gid;
    IF NOT FOUND THEN
        RETURN;  -- the grid was deleted (its versions and retirements go with it)
    END IF;
    SELECT count(*) FILTER (WHERE valid_to IS NULL), max(version) FILTER (WHERE valid_to IS NULL),
           max(version), max(valid_to)
      INTO n_open, open_version, max_version, last_end
      FROM grid_versions WHERE grid_id = gid;
    SELECT count(*), max(retired_at) INTO n_retirements, retirement_at
      FROM grid_retirements WHERE grid_id = gid AND restored_at IS NULL;

    IF max_version IS DISTINCT FROM g.current_version THEN
        problem := format('current_version is %s but its highest version is %s',
                          g.current_version, coalesce(max_version::text, 'missing'));
    ELSIF g.retired_at IS NULL AND n_open <> 1 THEN
        problem := 'it is not retired but has no current version (valid_to IS NULL): retire it, '
                   'or reopen its last version';
    ELSIF g.retired_at IS NULL AND n_retirements <> 0 THEN
        problem := 'it is not retired but a grid_retirements row is still open: set its restored_at';
    ELSIF g.retired_at IS NOT NULL AND n_open <> 0 THEN
        problem := format('it was retired at %s but version %s is still open (valid_to IS NULL)',
                          g.retired_at, open_version);
    ELSIF g.retired_at IS NOT NULL AND last_end IS DISTINCT FROM g.retired_at THEN
        problem := format('it was retired at %s but its last version ended at %s',
                          g.retired_at, last_end);
    ELSIF g.retired_at IS NOT NULL AND n_retirements <> 1 THEN
        problem := 'it is retired but has no open grid_retirements row saying who retired it';
    ELSIF g.retired_at IS NOT NULL AND retirement_at IS DISTINCT FROM g.retired_at THEN
        problem := format('it was retired at %s but its open grid_retirements row says %s',
                          g.retired_at, retirement_at);
    END IF;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'grid % is inconsistent: %', g.code, problem
            USING ERRCODE = 'check_violation', CONSTRAINT = 'grid_state_consistent',
                  TABLE = 'grids';
    END IF;
END
$$;

CREATE FUNCTION grid_state_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'grids' THEN
        PERFORM grid_state_check(NEW.id);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM grid_state_check(OLD.grid_id);
    ELSE
        PERFORM grid_state_check(NEW.grid_id);
        IF TG_OP = 'UPDATE' AND OLD.grid_id <> NEW.grid_id THEN
            PERFORM grid_state_check(OLD.grid_id);
        END IF;
    END IF;
    RETURN NULL;
END
$$;
"""

_TRIGGERS = (
    ("grids", "INSERT OR UPDATE"),
    ("grid_versions", "INSERT OR UPDATE OR DELETE"),
    ("grid_retirements", "INSERT OR UPDATE OR DELETE"),
)


def upgrade() -> None:
    op.execute(_CHECK_FUNCTION)
    op.execute("SELECT grid_state_check(id) FROM grids")
    for table, events in _TRIGGERS:
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {table}_state_consistent AFTER {events} ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION grid_state_trigger()"
        )


def downgrade() -> None:
    for table, _ in _TRIGGERS:
        op.execute(f"DROP TRIGGER {table}_state_consistent ON {table}")
    op.execute("DROP FUNCTION grid_state_trigger()")
    op.execute("DROP FUNCTION grid_state_check(integer)")
