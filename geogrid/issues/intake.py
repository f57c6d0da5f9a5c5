"""Intake of a report: locate it, make it idempotent, tag it to its grids and assign it.

Keyword-only functions that take a session and a clock (``now``) and never commit: the request
or the CLI command owns the transaction, and tests pass a test clock.

A retried report carries an ``Idempotency-Key`` and the unique constraint on
``issues.idempotency_key`` (``INSERT ... ON CONFLICT DO NOTHING``) makes it one issue even when
the copies arrive at once; the SHA-256 of the report is stored with the key, so the same key with
a different report is refused (422) rather than answered with the first.

Where an issue is assigned to a worker: in one place, :func:`geogrid.issues.routing.on_duty_post`
(the AB rule of :mod:`geogrid.rules.on_duty`). It is called here, for a new report tagged to a
grid, and by :mod:`geogrid.grids.followups` when a boundary change re-tags open issues. Nothing
else picks a worker; a person may reassign one through a transition
(:mod:`geogrid.issues.transitions`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from geogrid.auth.privacy import cipher_of
from geogrid.errors import ConflictError, InvalidInputError
from geogrid.issues.duplicates import duplicate_candidates
from geogrid.issues.routing import Tagging, on_duty_post, tag_point
from geogrid.issues.transitions import level_deadline, record_event
from geogrid.spatial.crs import to_wgs84
from geogrid.storage.locks import lock_boundaries_for_tagging
from geogrid.storage.models import Issue, IssueCategory, IssueGrid, IssuePhoto, IssueReporter
from geogrid.vocabulary import ISSUE_SOURCES

__all__ = [
    "CreatedIssue",
    "NewIssue",
    "category_by_code",
    "create_issue",
    "report_fingerprint",
]


@dataclass
class NewIssue:
    """A report as it arrives: a point (in any accepted CRS) or an address, and what it is."""

    category_code: str
    description: str
    lon: float | None = None
    lat: float | None = None
    crs: str = "wgs84"
    address: str | None = None
    source: str = "resident"
    reporter_name: str | None = None
    reporter_phone: str | None = None
    reporter_email: str | None = None
    idempotency_key: str | None = None
    district_adcode: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    media_urls: list[str] = field(default_factory=list)


@dataclass
class CreatedIssue:
    id: int
    created: bool
    possible_duplicates: list[dict[str, Any]]


def category_by_code(session: Session, code: str) -> IssueCategory:
    category = session.scalars(select(IssueCategory).where(IssueCategory.code == code)).first()
    if category is None or not category.active:
        known = session.scalars(
            select(IssueCategory.code).where(IssueCategory.active).order_by(IssueCategory.code)
        ).all()
        raise InvalidInputError(
            f"Unknown category {code!r}; GET /categories lists the codes.",
            value=code,
            allowed=list(known)[:200],
        )
    return category


def _locate(session: Session, report: NewIssue, default_adcode: str) -> dict[str, Any]:
    """WGS 84 lon/lat (and the matched address) for a point or an address report."""
    if report.lon is not None and report.lat is not None:
        wgs_lon, wgs_lat = to_wgs84(report.lon, report.lat, report.crs)
        lon, lat = float(wgs_lon), float(wgs_lat)
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidInputError(f"({report.lon}, {report.lat}) is not a longitude/latitude.")
        return {"lon": lon, "lat": lat, "address_text": report.address, "address_id": None}
    if report.address:
        try:
            from geogrid.addresses.match import match_address
        except ImportError as exc:
            raise InvalidInputError(
                "Address lookup is not available on this server yet; send lon/lat instead."
            ) from exc
        found = match_address(
            session, report.address, district_adcode=report.district_adcode or default_adcode
        )
        return {
            "lon": float(found.lon),
            "lat": float(found.lat),
            "address_text": found.full_text,
            "address_id": found.address_id,
        }
    raise InvalidInputError("A report needs lon and lat, or an address.")


def report_fingerprint(report: NewIssue) -> str:
    """SHA-256 of what a report says (everything but the key and the server's default
    district): two sends of one report have the same fingerprint, two different reports not."""
    content = asdict(report)
    for server_side in ("idempotency_key", "district_adcode"):
        content.pop(server_side)
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _existing_by_key(session: Session, key: str, fingerprint: str) -> int | None:
    """The issue first reported with ``key``; refused if that report said something else
    (as the IETF Idempotency-Key draft and Stripe do: same key, different request = error)."""
    row = session.execute(
        select(Issue.id, Issue.idempotency_hash).where(Issue.idempotency_key == key)
    ).first()
    if row is None:
        return None
    if row.idempotency_hash is not None and row.idempotency_hash != fingerprint:
        raise InvalidInputError(
            "This Idempotency-Key was already used for a different report. A retry must send "
            "exactly the same report; a new report needs a new key.",
            idempotency_key=key,
        )
    return int(row.id)


def _tag_held_still(session: Session, lon: float, lat: float, district_adcode: str) -> Tagging:
    """The grids at the point, read after the district's boundaries are locked against change
    until this transaction ends (:mod:`geogrid.storage.locks`): the tag cannot go stale before
    the issue is committed. A point that lies in another district's grid locks that district
    too and is read again."""
    locked: set[str] = set()
    district = district_adcode
    while district not in locked:
        lock_boundaries_for_tagging(session, district)
        locked.add(district)
        tagging = tag_point(session, lon, lat)
        if tagging.deepest is not None:
            district = tagging.deepest.district_adcode
    return tagging


def create_issue(
    session: Session, report: NewIssue, *, now: datetime, actor: str, default_adcode: str
) -> CreatedIssue:
    """Report an issue: locate, tag, assign, and log it; a repeated key returns the first."""
    fingerprint = report_fingerprint(report)
    if report.idempotency_key:
        found = _existing_by_key(session, report.idempotency_key, fingerprint)
        if found is not None:
            return CreatedIssue(found, False, [])
    if report.source not in ISSUE_SOURCES:
        raise InvalidInputError(
            f"Unknown source {report.source!r}.", value=report.source, allowed=list(ISSUE_SOURCES)
        )
    if not report.description.strip():
        raise InvalidInputError("The description is empty: say what the problem is.")
    category = category_by_code(session, report.category_code)
    where = _locate(session, report, default_adcode)
    tagging = _tag_held_still(
        session, where["lon"], where["lat"], report.district_adcode or default_adcode
    )

    values: dict[str, Any] = {
        "category_id": category.id,
        "description": report.description.strip(),
        "geom": func.ST_SetSRID(func.ST_MakePoint(where["lon"], where["lat"]), 4326),
        "address_text": where["address_text"],
        "address_id": where["address_id"],
        "source": report.source,
        "status": "reported",
        "idempotency_key": report.idempotency_key,
        "idempotency_hash": fingerprint if report.idempotency_key else None,
        "reported_at": now,
        "updated_at": now,
    }
    if tagging.deepest is None:
        values |= {
            "district_adcode": report.district_adcode or default_adcode,
            "handling_level": "district",
            "routing_note": "point in no current grid: sent to the district queue",
        }
    else:
        grid = tagging.deepest
        post = on_duty_post(session, grid.id, now=now)
        values |= {
            "district_adcode": grid.district_adcode,
            "grid_id": grid.id,
            "grid_version": grid.version,
            "handling_level": category.default_level,
            "assignee_staff_id": post.staff_id,
            "routing_note": post.note,
        }
        if category.default_level == "department" and category.department_id:
            values["department_id"] = category.department_id
    # the clock of the first level starts at the report (acceptance restarts it)
    values["deadline_at"] = level_deadline(session, category.id, values["district_adcode"], now)

    stmt = pg_insert(Issue).values(**values)
    if report.idempotency_key:
        stmt = stmt.on_conflict_do_nothing(index_elements=["idempotency_key"])
    issue_id = session.execute(stmt.returning(Issue.id)).scalar()
    if issue_id is None:  # a concurrent copy with the same key won the race
        found = _existing_by_key(session, report.idempotency_key or "", fingerprint)
        if found is None:
            raise ConflictError("A report with this Idempotency-Key is being written; retry.")
        return CreatedIssue(found, False, [])

    if tagging.all:
        session.execute(
            insert(IssueGrid),
            [
                {"issue_id": issue_id, "grid_id": g.id, "grid_version": g.version}
                for g in tagging.all
            ],
        )
    if report.reporter_name or report.reporter_phone or report.reporter_email:
        cipher = cipher_of(session)  # encrypted at rest (geogrid.auth.privacy)
        session.execute(
            insert(IssueReporter).values(
                issue_id=issue_id,
                name=cipher.encrypt(report.reporter_name),
                phone=cipher.encrypt(report.reporter_phone),
                email=cipher.encrypt(report.reporter_email),
                created_at=now,
            )
        )
    for url in report.media_urls:
        session.execute(insert(IssuePhoto).values(issue_id=issue_id, url=url, uploaded_by=actor))
    data: dict[str, Any] = {"grids": [g.code for g in tagging.all]}
    if report.attributes:
        data["attributes"] = report.attributes
    record_event(
        session, issue_id, now, actor, "reported", None, "reported", values["routing_note"], data
    )
    duplicates = duplicate_candidates(
        session,
        lon=where["lon"],
        lat=where["lat"],
        category_id=category.id,
        now=now,
        exclude_id=issue_id,
    )
    return CreatedIssue(issue_id, True, duplicates)
