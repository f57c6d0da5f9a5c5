""" "In force at t" is one definition, and the database refuses a grid whose fields disagree.

The pure predicate (:func:`geogrid.rules.in_force.in_force`), its text SQL and its SQLAlchemy
forms answer alike for every version of a small history (edited, retired, restored) at every
boundary instant; migration 0010's deferred triggers refuse, at commit, a retired grid with an
open version, a current grid without one, a retirement without its row and a
``current_version`` that is not the open version, and accept what the repository writes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geogrid.grids import repository as repo
from geogrid.rules.in_force import in_force, in_force_clause, in_force_sql
from geogrid.storage.models import Grid, GridVersion

T0 = datetime.fromisoformat("2026-03-02T09:00:00+08:00")


def _leaf(db: Session) -> str:
    """A current general grid without children (retiring it is allowed)."""
    return str(
        db.execute(
            text(
                """
                SELECT g.code FROM grids g
                WHERE g.kind = 'general' AND g.retired_at IS NULL AND g.district_adcode = '610503'
                  AND NOT EXISTS (SELECT 1 FROM grids c WHERE c.parent_id = g.id)
                ORDER BY g.code LIMIT 1
                """
            )
        ).scalar_one()
    )


def _check_now(db: Session) -> None:
    """Fire the deferred consistency triggers now (the test transaction never commits)."""
    db.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
    db.execute(text("SET CONSTRAINTS ALL DEFERRED"))


def _history(db: Session, code: str) -> None:
    """Version 2 from T0+1h, retired at T0+2h, restored as version 3 at T0+3h: what the
    repository writes for an edit, a retirement and a restore."""
    locked = repo.lock_grid(db, code)
    record = repo.get_version(db, code, locked.current_version)
    fields = {"name": record.name}
    repo.add_version(
        db,
        locked,
        fields=fields,
        geom=record.geom,
        area_m2=record.area_m2,
        actor="test",
        reason="edit",
        at=T0 + timedelta(hours=1),
    )
    repo.retire_grid(db, repo.lock_grid(db, code), at=T0 + timedelta(hours=2), actor="test")
    _check_now(db)
    repo.unretire_grid(
        db,
        repo.lock_grid(db, code),
        fields=fields,
        geom=record.geom,
        area_m2=record.area_m2,
        actor="test",
        reason="back",
        at=T0 + timedelta(hours=3),
    )
    _check_now(db)


def test_the_repository_writes_what_the_database_accepts_and_every_form_agrees(
    db: Session,
) -> None:
    code = _leaf(db)
    db.execute(
        text(
            "UPDATE grid_versions SET valid_from = :t FROM grids g WHERE g.id = grid_id AND g.code = :c"
        ),
        {"t": T0 - timedelta(days=30), "c": code},
    )
    _history(db, code)
    versions = db.execute(
        select(GridVersion.version, GridVersion.valid_from, GridVersion.valid_to, Grid.retired_at)
        .join(Grid, Grid.id == GridVersion.grid_id)
        .where(Grid.code == code)
        .order_by(GridVersion.version)
    ).all()
    assert [v.version for v in versions] == [1, 2, 3]
    instants = [None] + [T0 + timedelta(hours=h, microseconds=d) for h in range(5) for d in (-1, 0)]
    for at in instants:
        pure = [v.version for v in versions if in_force(v.valid_from, v.valid_to, v.retired_at, at)]
        by_text = db.execute(
            text(
                "SELECT gv.version FROM grid_versions gv JOIN grids g ON g.id = gv.grid_id "
                f"WHERE g.code = :c AND {in_force_sql(at)} ORDER BY gv.version"
            ),
            {"c": code, "at": at},
        ).scalars()
        by_clause = db.execute(
            select(GridVersion.version)
            .join(Grid, Grid.id == GridVersion.grid_id)
            .where(Grid.code == code, in_force_clause(at))
            .order_by(GridVersion.version)
        ).scalars()
        assert list(by_text) == pure == list(by_clause), at
    # the retired hour has no version in force; each other instant exactly one
    at_retired = T0 + timedelta(hours=2, minutes=30)
    assert not any(in_force(v.valid_from, v.valid_to, v.retired_at, at_retired) for v in versions)
    assert [v.version for v in versions if in_force(v.valid_from, v.valid_to, v.retired_at)] == [3]


_BROKEN = {
    "retired with its version still open": (
        "UPDATE grids SET retired_at = :t WHERE code = :c",
        "INSERT INTO grid_retirements (grid_id, version, retired_at, retired_by) "
        "SELECT id, current_version, :t, 'test' FROM grids WHERE code = :c",
    ),
    "current without a current version": (
        "UPDATE grid_versions SET valid_to = :t FROM grids g WHERE g.id = grid_id AND g.code = :c",
    ),
    "retired without who retired it": (
        "UPDATE grid_versions SET valid_to = :t FROM grids g WHERE g.id = grid_id AND g.code = :c",
        "UPDATE grids SET retired_at = :t WHERE code = :c",
    ),
    "current_version is not the open version": (
        "UPDATE grids SET current_version = current_version + 1 WHERE code = :c",
    ),
    "an open retirement on a current grid": (
        "INSERT INTO grid_retirements (grid_id, version, retired_at, retired_by) "
        "SELECT id, current_version, :t, 'test' FROM grids WHERE code = :c",
    ),
}

_REASONS = {
    "retired with its version still open": "is still open",
    "current without a current version": "has no current version",
    "retired without who retired it": "no open grid_retirements row",
    "current_version is not the open version": "highest version is",
    "an open retirement on a current grid": "grid_retirements row is still open",
}


@pytest.mark.parametrize("case", list(_BROKEN))
def test_the_database_refuses_a_grid_whose_fields_disagree(db: Session, case: str) -> None:
    code = _leaf(db)
    savepoint = db.begin_nested()
    # deferred: each statement alone is accepted, the check comes at commit
    for statement in _BROKEN[case]:
        db.execute(text(statement), {"c": code, "t": T0})
    with pytest.raises(IntegrityError) as refused:
        db.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
    savepoint.rollback()
    message = str(refused.value.orig)
    assert f"grid {code} is inconsistent" in message
    assert _REASONS[case] in message
