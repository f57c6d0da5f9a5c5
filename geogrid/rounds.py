"""A grid worker's rounds: visits (走访) and patrols (巡查) with their GPS tracks.

Why a module of its own: the gaps map calls a grid without activity "inactive", and a worker
who walks the grid and finds nothing wrong files no issue. Visits and patrols are that trace.

A phone on rounds loses its connection in stairwells and lifts, so every write here can be
sent twice: a visit and a patrol carry the phone's ``client_key`` (the second send answers the
first row), and a patrol's points carry the phone's sequence number (a repeated piece stores
nothing new; a track is read back in ``seq`` order whatever order the pieces arrived in).
Reach is the database's: row-level security (migration 0020) refuses a round on a grid out of
the caller's reach.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from geogrid.errors import ConflictError, InvalidInputError, NotFoundError
from geogrid.storage.models import Grid, Patrol, Visit

__all__ = [
    "MAX_POINTS_PER_PIECE",
    "NewVisit",
    "PatrolPointIn",
    "add_patrol_points",
    "end_patrol",
    "patrol_detail",
    "record_visit",
    "start_patrol",
]

#: A piece is what a phone sends at once; a longer walk is several pieces.
MAX_POINTS_PER_PIECE: Final = 500


@dataclass(frozen=True)
class NewVisit:
    """A visit: which grid, which household or address, what was said, when."""

    grid_code: str
    household: str
    visited_at: datetime
    note: str | None = None
    lon: float | None = None
    lat: float | None = None
    client_key: str | None = None


@dataclass(frozen=True)
class PatrolPointIn:
    """A GPS fix (WGS 84) numbered by the phone from 0."""

    seq: int
    lon: float
    lat: float
    recorded_at: datetime
    accuracy_m: float | None = None


def _grid_id(session: Session, code: str) -> int:
    found = session.scalar(select(Grid.id).where(Grid.code == code, Grid.retired_at.is_(None)))
    if found is None:
        raise NotFoundError(f"There is no current grid {code}.", code=code)
    return int(found)


def _visit_json(row: Visit, grid_code: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "grid_code": grid_code,
        "staff_id": row.staff_id,
        "actor": row.actor,
        "household": row.household,
        "note": row.note,
        "lon": row.lon,
        "lat": row.lat,
        "visited_at": row.visited_at,
    }


def record_visit(
    session: Session, visit: NewVisit, *, actor: str, staff_id: int | None
) -> tuple[dict[str, Any], bool]:
    """Store a visit; returns it and whether it is new (``False``: the phone resent it)."""
    if not visit.household.strip():
        raise InvalidInputError("A visit names the household or address visited.")
    if visit.client_key is not None:
        found = session.scalar(select(Visit).where(Visit.client_key == visit.client_key))
        if found is not None:
            return _visit_json(found, visit.grid_code), False
    row = Visit(
        grid_id=_grid_id(session, visit.grid_code),
        staff_id=staff_id,
        actor=actor,
        household=visit.household.strip(),
        note=visit.note,
        lon=visit.lon,
        lat=visit.lat,
        visited_at=visit.visited_at,
        client_key=visit.client_key,
    )
    session.add(row)
    session.flush()
    return _visit_json(row, visit.grid_code), True


def start_patrol(
    session: Session,
    grid_code: str,
    *,
    started_at: datetime,
    actor: str,
    staff_id: int | None,
    client_key: str | None = None,
    note: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Open a patrol of ``grid_code``; a resent start (same ``client_key``) answers the first."""
    if client_key is not None:
        found = session.scalar(select(Patrol.id).where(Patrol.client_key == client_key))
        if found is not None:
            return patrol_detail(session, int(found)), False
    row = Patrol(
        grid_id=_grid_id(session, grid_code),
        staff_id=staff_id,
        actor=actor,
        note=note,
        started_at=started_at,
        client_key=client_key,
    )
    session.add(row)
    session.flush()
    return patrol_detail(session, row.id), True


def _patrol(session: Session, patrol_id: int) -> Patrol:
    row = session.get(Patrol, patrol_id)
    if row is None:
        raise NotFoundError(f"There is no patrol {patrol_id} within your reach.", id=patrol_id)
    return row


def add_patrol_points(
    session: Session, patrol_id: int, points: Sequence[PatrolPointIn]
) -> dict[str, Any]:
    """Store a piece of the track. A point whose ``seq`` is already stored is skipped (a resent
    piece), so the answer says how many were new and which numbers are still missing, which is
    what a phone needs to know after a lost connection.

    Points may arrive after the patrol ended: the phone sends what it kept offline.
    """
    if len(points) > MAX_POINTS_PER_PIECE:
        raise InvalidInputError(
            f"Send at most {MAX_POINTS_PER_PIECE} points at once, got {len(points)}.",
            count=len(points),
        )
    seqs = [p.seq for p in points]
    if len(set(seqs)) != len(seqs):
        raise InvalidInputError("A piece repeats a point number (seq).", seqs=seqs)
    _patrol(session, patrol_id)
    stored = 0
    for p in points:
        if not (-180 <= p.lon <= 180 and -90 <= p.lat <= 90):
            raise InvalidInputError(
                f"Point {p.seq}: lon/lat ({p.lon}, {p.lat}) is not WGS 84.", seq=p.seq
            )
    if points:
        result = session.execute(
            text(
                "INSERT INTO patrol_points (patrol_id, seq, lon, lat, accuracy_m, recorded_at) "
                "SELECT :patrol, * FROM unnest(CAST(:seq AS int[]), CAST(:lon AS float8[]), "
                "CAST(:lat AS float8[]), CAST(:acc AS float8[]), CAST(:at AS timestamptz[])) "
                "ON CONFLICT (patrol_id, seq) DO NOTHING"
            ),
            {
                "patrol": patrol_id,
                "seq": seqs,
                "lon": [p.lon for p in points],
                "lat": [p.lat for p in points],
                "acc": [p.accuracy_m for p in points],
                "at": [p.recorded_at for p in points],
            },
        )
        stored = int(getattr(result, "rowcount", 0) or 0)
    counts = session.execute(
        text("SELECT count(*), max(seq) FROM patrol_points WHERE patrol_id = :id"),
        {"id": patrol_id},
    ).one()
    total, last = int(counts[0]), counts[1]
    missing = (
        []
        if last is None
        else [
            int(s)
            for (s,) in session.execute(
                text(
                    "SELECT s FROM generate_series(0, :last) s WHERE NOT EXISTS "
                    "(SELECT 1 FROM patrol_points p WHERE p.patrol_id = :id AND p.seq = s) "
                    "ORDER BY s LIMIT 100"
                ),
                {"id": patrol_id, "last": last},
            )
        ]
    )
    return {"patrol_id": patrol_id, "stored": stored, "points": total, "missing": missing}


def end_patrol(session: Session, patrol_id: int, *, ended_at: datetime) -> dict[str, Any]:
    """Close the patrol. Ending it again with the same time is a resend and answers the same;
    a different end time is refused (409), since the first one is on record."""
    row = _patrol(session, patrol_id)
    if row.ended_at is not None and row.ended_at != ended_at:
        raise ConflictError(
            f"Patrol {patrol_id} already ended at {row.ended_at.isoformat()}.",
            rule="patrol_ended",
            ended_at=row.ended_at.isoformat(),
        )
    if ended_at < row.started_at:
        raise InvalidInputError(
            "A patrol cannot end before it started.",
            started_at=row.started_at.isoformat(),
            ended_at=ended_at.isoformat(),
        )
    row.ended_at = ended_at
    session.flush()
    return patrol_detail(session, patrol_id)


def patrol_detail(session: Session, patrol_id: int) -> dict[str, Any]:
    """The patrol and its track in the walker's order (``seq``), as a GeoJSON LineString."""
    row = _patrol(session, patrol_id)
    code = session.scalar(select(Grid.code).where(Grid.id == row.grid_id))
    points = session.execute(
        text(
            "SELECT seq, lon, lat, recorded_at FROM patrol_points "
            "WHERE patrol_id = :id ORDER BY seq"
        ),
        {"id": patrol_id},
    ).all()
    return {
        "id": row.id,
        "grid_code": code,
        "staff_id": row.staff_id,
        "actor": row.actor,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "points": len(points),
        "seqs": [p.seq for p in points],
        "track": {"type": "LineString", "coordinates": [[p.lon, p.lat] for p in points]},
    }
