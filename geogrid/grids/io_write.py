"""Importing grid boundaries: a dry run that reports the plan (:mod:`geogrid.grids.io_plan`),
then an all-or-nothing commit.

Why all-or-nothing: a grid file is one drawing of a district. Committing the 140 features that
passed and leaving out the 19 that overlapped would leave the territory half-redrawn, with
gaps nobody asked for. So nothing is written while any feature is refused; the report tells
the office what to fix, and they import again. Written grids go through the grids repository,
and open issues follow the new boundaries (:func:`geogrid.grids.followups.settle_by_location`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import shapely
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from geogrid.grids import repository
from geogrid.grids.followups import settle_by_location
from geogrid.grids.io_formats import SourceData
from geogrid.grids.io_plan import (
    FieldMapping,
    ImportRefusedError,
    ImportReport,
    PlannedFeature,
    Progress,
    ensure_district,
    normalise_feature,
    plan_import,
)
from geogrid.grids.validation import area_m2
from geogrid.storage.models import AdminArea, Grid

__all__ = [
    "SETTLE_DISTRICT_WIDE",
    "import_file",
    "import_grids",
]


#: Above this many written grids, an import re-checks its district's open issues in one pass.
SETTLE_DISTRICT_WIDE = 50


# --- writing -----------------------------------------------------------------------------------


def _fields(p: PlannedFeature) -> dict[str, Any]:
    return {
        "name": p.outcome.name,
        "dedicated_type": p.dedicated_type,
        "estate_type": p.estate_type,
        "households": p.households,
        "population": p.population,
        "attributes": p.attributes,
    }


def _write(
    session: Session, planned: list[PlannedFeature], *, actor: str, reason: str, progress: Progress
) -> None:
    """Write through the grids repository, parents first; one moment for the whole import."""
    todo = sorted(
        (p for p in planned if p.outcome.action in ("create", "update")),
        key=lambda p: (p.outcome.level or 0, p.outcome.code or ""),
    )
    codes = {p.outcome.code for p in todo} | {p.outcome.parent for p in todo if p.outcome.parent}
    ids = dict(session.execute(select(Grid.code, Grid.id).where(Grid.code.in_(codes))).all())
    admin_ids = dict(
        session.execute(
            select(AdminArea.code, AdminArea.id).where(
                AdminArea.code.in_([p.outcome.code for p in todo if p.outcome.level == 1])
            )
        ).all()
    )
    at = repository.now(session)
    for p in todo:
        o = p.outcome
        assert o.code is not None and o.level is not None and p.geometry is not None
        if o.action == "create":
            ids[o.code] = repository.insert_grid(
                session,
                code=o.code,
                district_adcode=o.code[:6],
                level=o.level,
                kind=p.kind,
                parent_id=ids[o.parent] if o.parent else None,
                fields=_fields(p),
                geom=p.geometry,
                area_m2=area_m2(p.geometry),
                actor=actor,
                reason=reason,
                valid_from=at,
                admin_area_id=admin_ids.get(o.code) if o.level == 1 else None,
            )
        else:
            locked = repository.lock_grid(session, o.code, family=False)
            repository.add_version(
                session,
                locked,
                fields=_fields(p),
                geom=p.geometry,
                area_m2=area_m2(p.geometry),
                actor=actor,
                reason=reason,
                at=at,
            )
            if p.kind == "dedicated" and p.dedicated_type != locked.dedicated_type:
                session.execute(
                    update(Grid).where(Grid.id == locked.id).values(dedicated_type=p.dedicated_type)
                )
        progress.advance()
    # Open issues follow the new boundaries: those tagged to a redrawn grid and those a created
    # or redrawn grid now covers (a moved shared edge moves the issues on both sides).
    by_district: dict[str, list[PlannedFeature]] = defaultdict(list)
    for p in todo:
        by_district[(p.outcome.code or "")[:6]].append(p)
    for district, written in by_district.items():
        # a large import is checked district-wide: one pass over its open issues is cheaper
        # than testing each of them against the union of hundreds of polygons
        settle_by_location(
            session,
            district_adcode=district,
            area=None
            if len(written) > SETTLE_DISTRICT_WIDE
            else shapely.union_all([p.geometry for p in written]),
            grid_ids=[ids[p.outcome.code] for p in written if p.outcome.code in ids],
            operation="import",
            actor=actor,
            at=at,
        )


def import_grids(
    session: Session,
    source: SourceData,
    *,
    mapping: FieldMapping | None = None,
    dry_run: bool = True,
    boundaries_dir: Path | None = None,
    tolerance_m: float = 0.5,
    actor: str = "import",
    reason: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Plan the import of ``source``'s features and, unless ``dry_run``, write it.

    Runs inside the caller's transaction and never commits. A commit with any refused feature
    raises :class:`ImportRefusedError` (carrying the report) before anything is written; a dry
    run returns the report either way. ``progress`` is called once per feature checked and
    once per feature written (2 × the features at most).
    """
    mapping = mapping or FieldMapping()
    columns = mapping.resolve(
        {key for feature in source.features for key in feature.properties}
        | set(_mapping_columns(mapping))
    )
    planned = [normalise_feature(f, columns) for f in source.features]
    report = ImportReport(
        features=[p.outcome for p in planned],
        dry_run=dry_run,
        format=source.format.value,
        encoding=source.encoding,
        encoding_source=source.encoding_source,
        columns=columns,
    )
    tick = Progress(progress)
    adcodes = sorted(
        {p.outcome.code[:6] for p in planned if p.outcome.code and p.outcome.level == 1}
    )
    savepoint = session.begin_nested()
    try:
        for adcode in adcodes:
            if ensure_district(session, adcode, boundaries_dir):
                report.districts_created.append(adcode)
        plan_import(session, planned, tolerance_m=tolerance_m, progress=tick)
        if dry_run or report.refused:
            savepoint.rollback()
        else:
            _write(
                session,
                planned,
                actor=actor,
                reason=reason or f"import ({source.format.value})",
                progress=tick,
            )
            savepoint.commit()
            report.committed = True
    except BaseException:
        if savepoint.is_active:
            savepoint.rollback()
        raise
    if not dry_run and report.refused:
        n = len(report.refused)
        first = report.refused[0]
        raise ImportRefusedError(
            f"{n} of {len(planned)} features refused, nothing was written. First: feature "
            f"{first.index} ({first.code or 'no code'}): {first.reasons[0]['message']}",
            report=report.to_dict(),
        )
    return report


def _mapping_columns(mapping: FieldMapping) -> list[str]:
    return []  # a mapped column must exist in the file: resolve() checks against the file


def import_file(
    session: Session,
    path: Path,
    *,
    fmt: str | None = None,
    encoding: str | None = None,
    crs: str | None = None,
    **kwargs: Any,
) -> ImportReport:
    """Read ``path`` (see :func:`geogrid.grids.io_formats.read_features`) and import it."""
    from geogrid.grids.io_formats import read_features

    return import_grids(session, read_features(path, fmt, encoding=encoding, crs=crs), **kwargs)
