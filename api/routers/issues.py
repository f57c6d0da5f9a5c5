"""Routes for issues: report, read, the workflow, the ledger, photos, categories and
departments, the working-time calendar, and the deliberation-day agenda of a grid. Thin: parse,
call geogrid.issues, answer."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Header, Query, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    Response,
    StreamingResponse,
)
from sqlalchemy.orm import Session

from api.auth import PrincipalDep
from api.deps import ActorDep, SessionDep, SettingsDep, actor_or
from api.downloads import download, spooled_file
from api.preconditions import IfMatchHeader, entity_tag, expected_version, parse_if_match
from api.responses import answers_in
from api.schemas_issues import (
    AgendaDecisions,
    CalendarDaysCreate,
    CategoryCreate,
    CategoryUpdate,
    DepartmentCreate,
    DepartmentUpdate,
    EscalateRequest,
    IssueCreate,
    TransitionCreate,
)
from geogrid.auth.principal import Principal
from geogrid.auth.privacy import may_see_contacts, reporter_contacts
from geogrid.errors import NotFoundError
from geogrid.issues import agenda as agenda_mod
from geogrid.issues import catalog
from geogrid.issues.calendar import (
    delete_calendar_day,
    list_calendar_days,
    upsert_calendar_days,
)
from geogrid.issues.detail import issue_detail
from geogrid.issues.intake import NewIssue, create_issue
from geogrid.issues.ledger import (
    LedgerFilter,
    ledger_page,
    ledger_rows,
    write_csv_to,
    write_xlsx_to,
)
from geogrid.issues.photos import PhotoSettings, PhotoStore
from geogrid.issues.transitions import TransitionRequest, escalate, transition

router = APIRouter(tags=["issues"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: A report names its reporter, a deliberation the council, when X-Actor is absent.
ReporterDep = Annotated[str, Depends(actor_or("reporter"))]
CouncilDep = Annotated[str, Depends(actor_or("议事会"))]


def _now() -> datetime:
    return datetime.now(UTC)


def get_photo_store() -> PhotoStore:
    settings = PhotoSettings()
    return PhotoStore(settings.photos_dir, settings.max_photo_bytes)


def _expected(session: Session, issue_id: int, if_match: str | None) -> int | None:
    """The version a change of the issue was made on, from ``If-Match`` (optional for issues:
    without it a concurrent change is refused with 409 instead of 412)."""
    return expected_version(
        parse_if_match(if_match),
        issue_id,
        what="issue",
        read_path=f"/issues/{issue_id}",
        required=False,
        current=lambda: int(issue_detail(session, issue_id, now=_now())["row_version"]),
        id_field="issue_id",
    )


def _with_etag(body: dict[str, Any], status: int = 200, **headers: str) -> JSONResponse:
    """An issue with its entity tag, ``"<id>-v<row_version>"`` (:mod:`api.preconditions`)."""
    return JSONResponse(
        jsonable_encoder(body),
        status_code=status,
        headers={"ETag": entity_tag(body["id"], body["row_version"]), **headers},
    )


# -- categories and departments ------------------------------------------------------------


@router.get("/categories")
def list_categories(session: SessionDep) -> list[dict[str, Any]]:
    """The two-level taxonomy (class "12", subclass "1201"), with level and deadline."""
    return catalog.list_categories(session)


#: A district's own departments (and a category's department) are named by code within the
#: district: ``district`` picks it, the served district by default.
DistrictQuery = Annotated[
    str | None,
    Query(pattern=r"^[0-9]{6}$", description="adcode; default: the served district"),
]


@router.post("/categories", status_code=201)
def create_category(
    body: CategoryCreate,
    session: SessionDep,
    settings: SettingsDep,
    district: DistrictQuery = None,
) -> dict[str, Any]:
    values = body.model_dump()
    values["attributes"] = [a.model_dump() for a in body.attributes]
    return catalog.create_category(session, values, adcode=district or settings.district_adcode)


@router.patch("/categories/{code}")
def update_category(
    code: str,
    body: CategoryUpdate,
    session: SessionDep,
    settings: SettingsDep,
    district: DistrictQuery = None,
) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)
    return catalog.update_category(
        session, code, values, adcode=district or settings.district_adcode
    )


@router.get("/departments")
def list_departments(
    session: SessionDep, settings: SettingsDep, district: DistrictQuery = None
) -> list[dict[str, Any]]:
    return catalog.list_departments(session, adcode=district or settings.district_adcode)


@router.post("/departments", status_code=201)
def create_department(
    body: DepartmentCreate,
    session: SessionDep,
    settings: SettingsDep,
    district: DistrictQuery = None,
) -> dict[str, Any]:
    return catalog.create_department(
        session, body.model_dump(), adcode=district or settings.district_adcode
    )


@router.patch("/departments/{code}")
def update_department(
    code: str,
    body: DepartmentUpdate,
    session: SessionDep,
    settings: SettingsDep,
    district: DistrictQuery = None,
) -> dict[str, Any]:
    return catalog.update_department(
        session,
        code,
        body.model_dump(exclude_unset=True),
        adcode=district or settings.district_adcode,
    )


# -- issues ----------------------------------------------------------------------------------


@router.post("/issues", status_code=201)
def report_issue(
    body: IssueCreate,
    session: SessionDep,
    settings: SettingsDep,
    actor: ReporterDep,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> JSONResponse:
    """Report an issue; it is tagged to its grids and assigned to the on-duty post.

    Send an ``Idempotency-Key`` header: a retried report returns the first one (200) instead
    of creating another; the same key with a different report is refused (422).
    """
    now = _now()
    created = create_issue(
        session,
        NewIssue(
            category_code=body.category,
            description=body.description,
            lon=body.lon,
            lat=body.lat,
            crs=body.crs,
            address=body.address,
            source=body.source,
            reporter_name=body.reporter_name,
            reporter_phone=body.reporter_phone,
            reporter_email=body.reporter_email,
            idempotency_key=idempotency_key,
            district_adcode=settings.district_adcode,
        ),
        now=now,
        actor=actor,
        default_adcode=settings.district_adcode,
    )
    detail = issue_detail(session, created.id, now=now)
    detail["possible_duplicates"] = created.possible_duplicates
    if not created.created:
        return _with_etag(detail, 200, **{"Idempotent-Replayed": "true"})
    return _with_etag(detail, 201, Location=f"/issues/{created.id}")


def _ledger_filter(
    grid: str | None = Query(None, description="grid code prefix: the grid and its subtree"),
    category: str | None = Query(None, description="category code (a class takes its subclasses)"),
    status: str | None = Query(None, description="state, or comma-separated states"),
    source: str | None = None,
    date_from: datetime | None = Query(None, alias="from"),
    date_to: datetime | None = Query(None, alias="to"),
    overdue: bool | None = None,
    district: str | None = Query(None, pattern=r"^[0-9]{6}$", description="adcode: one district"),
) -> LedgerFilter:
    return LedgerFilter(grid, category, status, source, date_from, date_to, overdue, district)


LedgerDep = Annotated[LedgerFilter, Depends(_ledger_filter)]


@router.get("/issues")
def list_issues(
    session: SessionDep,
    f: LedgerDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """The ledger (台账), sorted by grid code."""
    return ledger_page(session, f, now=_now(), limit=limit, offset=offset)


@router.get(
    "/issues/export",
    response_class=StreamingResponse,
    responses=answers_in("text/csv", XLSX),
)
def export_issues(
    session: SessionDep, f: LedgerDep, format: Literal["csv", "xlsx"] = "csv"
) -> StreamingResponse:
    """The ledger as CSV (UTF-8 with BOM) or XLSX, Chinese column headers; streamed (the rows
    are written to a temporary file as they come from the database, then sent in chunks)."""
    rows = ledger_rows(session, f, now=_now())
    file = spooled_file()
    try:
        if format == "xlsx":
            write_xlsx_to(rows, file)
            return download(file, media_type=XLSX, filename="issues.xlsx")
        write_csv_to(rows, file)
    except BaseException:
        file.close()
        raise
    return download(file, media_type="text/csv; charset=utf-8", filename="issues.csv")


def _detail_for(
    session: Session, principal: Principal, issue_id: int, *, now: datetime
) -> dict[str, Any]:
    """The issue as ``principal`` may see it: reporters unmasked only for those who need them."""
    detail = issue_detail(session, issue_id, now=now)
    if may_see_contacts(session, principal, issue_id):
        detail["reporters"] = reporter_contacts(session, issue_id, full=True)
    return detail


@router.get("/issues/{issue_id}")
def get_issue(issue_id: int, session: SessionDep, principal: PrincipalDep) -> JSONResponse:
    """An issue with its grid codes, assignee (name, post) and timeline; reporters in full for
    the assigned worker and the officers above its grid, masked for everyone else."""
    return _with_etag(_detail_for(session, principal, issue_id, now=_now()))


@router.post("/issues/{issue_id}/transitions")
def post_transition(
    issue_id: int,
    body: TransitionCreate,
    session: SessionDep,
    actor: ActorDep,
    principal: PrincipalDep,
    if_match: IfMatchHeader = None,
) -> JSONResponse:
    """Move the issue through the workflow; 409 lists the allowed states."""
    now = _now()
    transition(
        session,
        issue_id,
        TransitionRequest(**body.model_dump()),
        actor=actor,
        now=now,
        expected_version=_expected(session, issue_id, if_match),
    )
    return _with_etag(_detail_for(session, principal, issue_id, now=now))


@router.post("/issues/{issue_id}/escalate")
def post_escalate(
    issue_id: int,
    session: SessionDep,
    actor: ActorDep,
    principal: PrincipalDep,
    body: EscalateRequest | None = None,
    if_match: IfMatchHeader = None,
) -> JSONResponse:
    """Move the issue one handling level up (grid → community → street → district)."""
    now = _now()
    escalate(
        session,
        issue_id,
        actor=actor,
        now=now,
        note=body.note if body else None,
        expected_version=_expected(session, issue_id, if_match),
    )
    return _with_etag(_detail_for(session, principal, issue_id, now=now))


@router.post("/issues/{issue_id}/photos", status_code=201)
def upload_photo(
    issue_id: int,
    session: SessionDep,
    store: Annotated[PhotoStore, Depends(get_photo_store)],
    actor: ActorDep,
    file: UploadFile = File(..., description="JPEG, PNG or WebP, at most 5 MB"),
) -> dict[str, Any]:
    content = file.file.read(store.max_bytes + 1)
    return store.save(session, issue_id, content, actor=actor)


@router.get("/issues/{issue_id}/photos")
def list_photos(
    issue_id: int, session: SessionDep, store: Annotated[PhotoStore, Depends(get_photo_store)]
) -> list[dict[str, Any]]:
    """The photos of an issue; stored ones have an ``href``, links a client gave a ``url``."""
    return store.list_photos(session, issue_id)


@router.get(
    "/issues/{issue_id}/photos/{photo_id}",
    response_class=FileResponse,
    responses={200: {"content": {t: {} for t in ("image/jpeg", "image/png", "image/webp")}}},
)
def get_photo(
    issue_id: int,
    photo_id: int,
    session: SessionDep,
    store: Annotated[PhotoStore, Depends(get_photo_store)],
) -> FileResponse:
    """The stored photo file, with its content type (checked by magic bytes on upload)."""
    photo = store.open_photo(session, issue_id, photo_id)
    # files are named by their SHA-256: the same URL never serves other bytes
    return FileResponse(
        photo.path,
        media_type=photo.content_type,
        headers={"Cache-Control": "private, max-age=31536000, immutable"},
    )


# -- working-time calendar -----------------------------------------------------------------


@router.get("/calendar/days")
def get_calendar_days(
    session: SessionDep,
    settings: SettingsDep,
    date_from: date | None = Query(None, alias="from"),
    date_to: date | None = Query(None, alias="to"),
    district: str | None = Query(
        None, pattern=r"^[0-9]{6}$", description="adcode; default: the served district"
    ),
) -> dict[str, Any]:
    """Holidays and make-up working days: national ones and the district's own (which win).

    Working time is Mon–Fri 08:30–12:00 and 14:30–18:00 China time, except on these days.
    """
    adcode = district or settings.district_adcode
    days = list_calendar_days(session, district_adcode=adcode, date_from=date_from, date_to=date_to)
    return {"district_adcode": adcode, "days": days}


@router.post("/calendar/days")
def post_calendar_days(body: CalendarDaysCreate, session: SessionDep) -> dict[str, Any]:
    """Add or replace days (a day posted again is updated): nationally, or for ``district``."""
    days = upsert_calendar_days(
        session, [d.model_dump() for d in body.days], district_adcode=body.district
    )
    return {"district_adcode": body.district, "days": days}


@router.delete("/calendar/days/{day}", status_code=204)
def remove_calendar_day(
    day: date,
    session: SessionDep,
    district: str | None = Query(
        None, pattern=r"^[0-9]{6}$", description="adcode; omit for the national day"
    ),
) -> Response:
    """Remove a day entered by mistake: it becomes an ordinary weekday or weekend day again."""
    if not delete_calendar_day(session, day, district_adcode=district):
        scope = f"district {district}" if district else "the national calendar"
        raise NotFoundError(f"{day} is not in {scope}.", date=str(day), district=district)
    return Response(status_code=204)


# -- deliberation day ------------------------------------------------------------------------


@router.get("/grids/{code}/agenda", response_model=None, responses=answers_in("text/html"))
def grid_agenda(
    code: str,
    session: SessionDep,
    month: str = Query(..., description="YYYY-MM; the meeting is on the 5th"),
    format: Literal["json", "html"] = "json",
) -> dict[str, Any] | HTMLResponse:
    """The open and escalated issues of the grid and its subtree for the 5th-day meeting."""
    data = agenda_mod.agenda(session, code, month, now=_now())
    if format == "html":
        return HTMLResponse(agenda_mod.render_agenda_html(data))
    return data


@router.post("/grids/{code}/agenda/decisions")
def agenda_decisions(
    code: str, body: AgendaDecisions, session: SessionDep, actor: CouncilDep
) -> list[dict[str, Any]]:
    """Decisions of the meeting: each issue goes to ``decided`` with the decision text."""
    return agenda_mod.record_decisions(
        session, code, [d.model_dump() for d in body.decisions], actor=actor, now=_now()
    )
