"""Pages for the people who do the work (issue 11), and the few routes only they use.

Public: ``/find`` (which grid, who is my worker), ``/report`` (a resident's report from a
phone) and ``/track/{token}`` (its progress and the rating). Logged in: ``/work`` (a grid
worker's grids, queue and rounds), ``/office`` (the queue of an office, dispatch, staff on
duty), ``/dept`` (what was dispatched to a department). Pages are server-rendered Jinja2 in
Chinese; their scripts are ours (``/static/pages``) and talk to the same JSON API as any client,
so a page never does something the API would refuse. Thin: parse, call the library, answer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from api.auth import CSRF_COOKIE, PrincipalDep
from api.deps import ActorDep, ReachDep, SessionDep, SettingsDep
from api.routers.analysis_params import Basemap
from api.routers.issues import get_photo_store
from api.schemas_issues import IssueCreate
from geogrid.auth.principal import Principal
from geogrid.errors import ConflictError, InvalidInputError, NotFoundError
from geogrid.grids.posts import appoint_post, end_post
from geogrid.grids.signboard import grid_signboard, signboard_json
from geogrid.issues import catalog
from geogrid.issues.calendar import CHINA_TZ, list_calendar_days
from geogrid.issues.detail import issue_detail
from geogrid.issues.intake import NewIssue
from geogrid.issues.ledger import LedgerFilter
from geogrid.issues.photos import PhotoStore
from geogrid.issues.queue import queue
from geogrid.issues.tracking import (
    MAX_REPORT_PHOTOS,
    issue_by_token,
    rate_issue,
    report_from_page,
    tracking_view,
)
from geogrid.issues.workflow import LABELS
from geogrid.maps.basemaps import display_crs, page_basemap
from geogrid.rounds import (
    NewVisit,
    PatrolPointIn,
    add_patrol_points,
    end_patrol,
    patrol_detail,
    record_visit,
    start_patrol,
)
from geogrid.storage.models import AdminArea, IssuePhoto, Staff

__all__ = ["DISTRICT_COOKIE", "PAGES_STATIC_DIR", "chosen_district", "router"]

router = APIRouter(tags=["pages for people"])

TEMPLATES_DIR: Final = Path(__file__).resolve().parent.parent / "templates"
PAGES_STATIC_DIR: Final = Path(__file__).resolve().parent.parent / "pages_static"
_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals["LABELS"] = LABELS
#: The district the pages were last switched to, kept across pages (the queues and lists are
#: filtered to it).
DISTRICT_COOKIE: Final = "geogrid_district"


def _now(request: Request) -> datetime:
    """The request's time: ``app.state.clock`` when a test set one (tests never read the
    wall clock), else the wall clock."""
    clock: Callable[[], datetime] | None = getattr(request.app.state, "clock", None)
    return clock() if clock is not None else datetime.now(UTC)


def _districts(session: Session) -> list[dict[str, str]]:
    rows = session.execute(
        select(AdminArea.code, AdminArea.name)
        .where(AdminArea.level == "district")
        .order_by(AdminArea.code)
    )
    return [{"code": r.code, "name": r.name} for r in rows]


def chosen_district(request: Request, session: SessionDep, settings: SettingsDep) -> str:
    """The district the pages show: ``?district=`` (the switcher's choice), else the one kept
    in the :data:`DISTRICT_COOKIE` from an earlier choice, else the served district. A code
    the installation does not hold is ignored, so a stale cookie never empties the queues."""
    held = {d["code"] for d in _districts(session)}
    for candidate in (request.query_params.get("district"), request.cookies.get(DISTRICT_COOKIE)):
        if candidate and candidate in held:
            return candidate
    return str(settings.district_adcode)


DistrictChoiceDep = Annotated[str, Depends(chosen_district)]


def page_map(basemap: Basemap = "blank") -> dict[str, Any]:
    """The basemap of a page's map, chosen as on the ``/maps`` pages (``?basemap=``) and drawn
    from the same definitions (:func:`geogrid.maps.basemaps.page_basemap`). Tianditu without
    its key falls back to the blank basemap with a notice, rather than leaving a person with
    no page."""
    try:
        return {**page_basemap(basemap), "notice": None}
    except InvalidInputError:
        return {
            **page_basemap("blank"),
            "notice": "天地图底图需要密钥（GEOGRID_TIANDITU_KEY），请联系管理员；现显示空白底图。",
        }


PageMapDep = Annotated[dict[str, Any], Depends(page_map)]


def _render(
    request: Request,
    session: Session,
    settings: Any,
    template: str,
    *,
    principal: Principal,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page with the shared frame: title bar, who is logged in, the district switcher
    (shown only when the installation holds several districts). A choice made with the
    switcher (``?district=``) is kept in a cookie for the next pages."""
    districts = _districts(session)
    chosen = chosen_district(request, session, settings)
    body = _env.get_template(template).render(
        request=request,
        principal=principal,
        districts=districts,
        district=chosen,
        csrf_cookie=CSRF_COOKIE,
        **context,
    )
    response = HTMLResponse(body, status_code=status)
    if request.query_params.get("district") == chosen:
        response.set_cookie(
            DISTRICT_COOKIE,
            chosen,
            max_age=365 * 24 * 3600,
            httponly=True,
            secure=request.url.scheme == "https",
            samesite="lax",
        )
    return response


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={target}", status_code=303)


def _forbidden_page(
    request: Request, session: Session, settings: Any, principal: Principal, who: str
) -> HTMLResponse:
    return _render(
        request,
        session,
        settings,
        "forbidden.html",
        principal=principal,
        status=403,
        title="无权访问",
        who=who,
    )


# -- public pages -------------------------------------------------------------------------


@router.get("/find", response_class=HTMLResponse, summary="查网格: which grid, who is my worker")
def find_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    basemap: PageMapDep,
    grid: Annotated[str | None, Query(pattern=r"^[0-9]{12,18}$")] = None,
) -> HTMLResponse:
    """A search box, "use my location" and a map; ``?grid=CODE`` is the shareable answer."""
    return _render(
        request,
        session,
        settings,
        "find.html",
        principal=principal,
        title="查网格",
        grid=grid,
        basemap=basemap,
    )


@router.get("/report", response_class=HTMLResponse, summary="报事: a resident's report")
def report_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    basemap: PageMapDep,
    grid: Annotated[str | None, Query(pattern=r"^[0-9]{12,18}$")] = None,
) -> HTMLResponse:
    """The report form; ``?grid=CODE`` (from a signboard's QR code) names the grid."""
    categories = [c for c in catalog.list_categories(session) if c.get("active", True)]
    grid_name = None
    if grid:
        try:
            board, _, _ = grid_signboard(session, grid, now=_now(request))
            grid_name = board.grid.name
        except NotFoundError:
            grid = None
    return _render(
        request,
        session,
        settings,
        "report.html",
        principal=principal,
        title="我要报事",
        categories=categories,
        grid=grid,
        grid_name=grid_name,
        max_photos=MAX_REPORT_PHOTOS,
        basemap=basemap,
    )


class PageReport(IssueCreate):
    """A report from the page: the API's report and the page's random key (tracking token)."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=32, max_length=36, description="crypto.randomUUID() of the page")
    consent: bool = Field(
        default=False, description="the privacy notice was accepted (needed with name or phone)"
    )


@router.post("/report/submit", summary="File a report from the page (idempotent by its key)")
def submit_report(
    request: Request, body: PageReport, session: SessionDep, settings: SettingsDep
) -> JSONResponse:
    """201 with the tracking link; the same key again (a double tap, a retry) answers the
    first report with 200 and files nothing more."""
    if (body.reporter_name or body.reporter_phone) and not body.consent:
        raise InvalidInputError(
            "A name or phone is sent only after the privacy notice is accepted "
            "(tick 同意 under 个人信息保护说明), or leave them empty.",
            field="consent",
        )
    now = _now(request)
    created = report_from_page(
        session,
        NewIssue(
            category_code=body.category,
            description=body.description,
            lon=body.lon,
            lat=body.lat,
            crs=body.crs,
            address=body.address,
            source="resident",
            reporter_name=body.reporter_name,
            reporter_phone=body.reporter_phone,
            district_adcode=settings.district_adcode,
        ),
        body.key,
        now=now,
        default_adcode=settings.district_adcode,
    )
    token = body.key.strip().lower()
    answer = {
        "issue_id": created.id,
        "token": token,
        "track_url": f"/track/{token}",
        "created": created.created,
    }
    return JSONResponse(answer, status_code=201 if created.created else 200)


@router.post("/report/{token}/photos", status_code=201, summary="A photo of a page report")
def report_photo(
    token: str,
    session: SessionDep,
    store: Annotated[PhotoStore, Depends(get_photo_store)],
    file: UploadFile = File(..., description="JPEG, PNG or WebP, resized by the page"),
) -> dict[str, Any]:
    """Up to three photos, while the report still waits for acceptance (the photos belong to
    the report, not to a later conversation)."""
    issue_id = issue_by_token(session, token)
    status = session.execute(
        text("SELECT status FROM issues WHERE id = :id"), {"id": issue_id}
    ).scalar_one()
    count = session.scalar(
        select(func.count()).select_from(IssuePhoto).where(IssuePhoto.issue_id == issue_id)
    )
    if status != "reported" or (count or 0) >= MAX_REPORT_PHOTOS:
        raise ConflictError(
            f"A report takes at most {MAX_REPORT_PHOTOS} photos, sent right after it.",
            rule="photo_limit",
        )
    content = file.file.read(store.max_bytes + 1)
    saved = store.save(session, issue_id, content, actor="reporter")
    return {"id": saved.get("id"), "issue_photos": (count or 0) + 1}


@router.get("/track/{token}", response_class=HTMLResponse, summary="进度查询: a report's progress")
def track_page(
    request: Request,
    token: str,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> HTMLResponse:
    try:
        issue_id = issue_by_token(session, token)
    except NotFoundError:
        return _render(
            request,
            session,
            settings,
            "track.html",
            principal=principal,
            status=404,
            title="进度查询",
            view=None,
            token=token,
        )
    view = tracking_view(session, issue_id, now=_now(request))
    return _render(
        request,
        session,
        settings,
        "track.html",
        principal=principal,
        title="进度查询",
        view=view,
        token=token,
    )


class RatingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: Literal["satisfied", "basically_satisfied", "unsatisfied"]


@router.post("/track/{token}/rating", summary="满意本: the resident rates a resolved issue")
def track_rating(
    request: Request, token: str, body: RatingCreate, session: SessionDep
) -> dict[str, Any]:
    """满意/基本满意 closes the issue; 不满意 reopens it. 409 once rated or before resolved."""
    issue_id = issue_by_token(session, token)
    view: dict[str, Any] = jsonable_encoder(
        rate_issue(session, issue_id, body.rating, now=_now(request))
    )
    return view


# -- grid worker ----------------------------------------------------------------------------


def _my_grids(
    session: Session, staff_id: int | None, now: datetime, district: str
) -> list[dict[str, Any]]:
    if staff_id is None:
        return []
    codes = session.execute(
        text(
            "SELECT g.code, a.post FROM grid_assignments a JOIN grids g ON g.id = a.grid_id "
            "WHERE a.staff_id = :staff AND a.valid_to IS NULL AND g.retired_at IS NULL "
            "AND g.district_adcode = :district ORDER BY g.code"
        ),
        {"staff": staff_id, "district": district},
    ).all()
    grids = []
    for code, post in codes:
        board, chain, home = grid_signboard(session, code, now=now)
        card = signboard_json(board, chain, home)
        card["my_post"] = post
        grids.append(card)
    return grids


def _issue_points(items: list[dict[str, Any]], basemap: str) -> list[dict[str, Any]]:
    """The queue's issues as points of the worker's map, in the basemap's coordinates."""
    located = [i for i in items if i.get("lon") is not None and i.get("lat") is not None]
    lon, lat = display_crs(basemap).lonlat([i["lon"] for i in located], [i["lat"] for i in located])
    return [
        {
            "id": i["id"],
            "lon": float(x),
            "lat": float(y),
            "label": f"#{i['id']} {i['category_name']}",
            "overdue": i["overdue"],
        }
        for i, x, y in zip(located, lon, lat, strict=True)
    ]


@router.get("/work", response_class=HTMLResponse, summary="网格员工作台: my grids, queue, rounds")
def work_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    district: DistrictChoiceDep,
    basemap: PageMapDep,
    status: Annotated[
        Literal["reported", "accepted", "discussing", "decided", "in_progress", "resolved"] | None,
        Query(description="Only issues in this state, e.g. reported: new reports to accept"),
    ] = None,
) -> Response:
    """The worker's phone page. ``?status=reported`` is the 待受理 tab: the reports waiting
    to be accepted, in queue order, apart from the issues already being worked on (whose
    deadlines and overdue flags would otherwise push a resident's fresh report down)."""
    if principal.is_public:
        return _login_redirect(request)
    if principal.role not in ("grid_worker", "admin"):
        return _forbidden_page(request, session, settings, principal, "网格员")
    now = _now(request)
    grids = _my_grids(session, principal.staff_id, now, district)
    items = queue(session, LedgerFilter(status=status, district_adcode=district), now=now, limit=30)
    return _render(
        request,
        session,
        settings,
        "work.html",
        principal=principal,
        title="网格员工作台",
        grids=grids,
        queue=items,
        queue_status=status,
        now=now,
        basemap=basemap,
        issue_points=_issue_points(items["items"], basemap["basemap"]),
    )


class VisitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grid: str = Field(pattern=r"^[0-9]{12,18}$")
    household: str = Field(min_length=1, max_length=300, description="户 or address visited")
    note: str | None = Field(default=None, max_length=5000)
    visited_at: datetime
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    key: str | None = Field(default=None, max_length=64, description="the phone's retry key")


@router.post("/rounds/visits", summary="走访: record a visit (idempotent by key)")
def post_visit(
    body: VisitCreate, session: SessionDep, principal: PrincipalDep, actor: ActorDep
) -> JSONResponse:
    visit, created = record_visit(
        session,
        NewVisit(
            grid_code=body.grid,
            household=body.household,
            note=body.note,
            visited_at=body.visited_at,
            lon=body.lon,
            lat=body.lat,
            client_key=body.key,
        ),
        actor=actor,
        staff_id=principal.staff_id,
    )
    return JSONResponse(jsonable_encoder(visit), status_code=201 if created else 200)


class PatrolCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grid: str = Field(pattern=r"^[0-9]{12,18}$")
    started_at: datetime
    note: str | None = Field(default=None, max_length=2000)
    key: str | None = Field(default=None, max_length=64)


class PointIn(BaseModel):
    seq: int = Field(ge=0, le=1_000_000)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    at: datetime
    accuracy: float | None = Field(default=None, ge=0)


class PointsPiece(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: list[PointIn] = Field(max_length=500)


class PatrolEnd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ended_at: datetime


PatrolId = Annotated[int, PathParam(ge=1)]


@router.post("/rounds/patrols", summary="巡查: start a patrol (idempotent by key)")
def post_patrol(
    body: PatrolCreate, session: SessionDep, principal: PrincipalDep, actor: ActorDep
) -> JSONResponse:
    patrol, created = start_patrol(
        session,
        body.grid,
        started_at=body.started_at,
        actor=actor,
        staff_id=principal.staff_id,
        client_key=body.key,
        note=body.note,
    )
    return JSONResponse(jsonable_encoder(patrol), status_code=201 if created else 200)


@router.post("/rounds/patrols/{patrol_id}/points", summary="A piece of a patrol's GPS track")
def post_patrol_points(patrol_id: PatrolId, body: PointsPiece, session: SessionDep) -> Any:
    """Resent points are skipped; the answer lists numbers still missing."""
    return add_patrol_points(
        session,
        patrol_id,
        [
            PatrolPointIn(seq=p.seq, lon=p.lon, lat=p.lat, recorded_at=p.at, accuracy_m=p.accuracy)
            for p in body.points
        ],
    )


@router.post("/rounds/patrols/{patrol_id}/end", summary="End a patrol")
def post_patrol_end(patrol_id: PatrolId, body: PatrolEnd, session: SessionDep) -> Any:
    return jsonable_encoder(end_patrol(session, patrol_id, ended_at=body.ended_at))


@router.get("/rounds/patrols/{patrol_id}", summary="A patrol and its track, in order")
def get_patrol(patrol_id: PatrolId, session: SessionDep) -> Any:
    return jsonable_encoder(patrol_detail(session, patrol_id))


# -- office ---------------------------------------------------------------------------------


@router.get("/office", response_class=HTMLResponse, summary="社区/街道工作台: queue and staff")
def office_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    district: DistrictChoiceDep,
    grid: Annotated[str | None, Query(pattern=r"^[0-9]{6,18}$")] = None,
    category: Annotated[str | None, Query(max_length=16)] = None,
    status: Annotated[str | None, Query(max_length=200)] = None,
    source: Annotated[str | None, Query(max_length=16)] = None,
    overdue: bool | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """The queue of everything in reach with filters; the staff of a grid (``?grid=``)."""
    if principal.is_public:
        return _login_redirect(request)
    if not principal.is_officer:
        return _forbidden_page(request, session, settings, principal, "社区、街道、区级干部")
    now = _now(request)
    f = LedgerFilter(
        grid_code=grid or None,
        category=category or None,
        status=status or None,
        source=source or None,
        overdue=overdue,
        district_adcode=district,
    )
    items = queue(session, f, now=now, limit=50, offset=offset)
    board = None
    candidates: list[dict[str, Any]] = []
    if grid and len(grid) >= 12:
        try:
            b, chain, home = grid_signboard(session, grid, now=now)
            board = signboard_json(b, chain, home)
            candidates = _post_candidates(session, grid)
        except NotFoundError:
            board = None
    return _render(
        request,
        session,
        settings,
        "office.html",
        principal=principal,
        title="工作台",
        section="queue",
        queue=items,
        filters={
            "grid": grid or "",
            "category": category or "",
            "status": status or "",
            "source": source or "",
            "overdue": overdue,
        },
        categories=catalog.list_categories(session),
        departments=catalog.list_departments(session, adcode=district),
        board=board,
        candidates=candidates,
        now=now,
    )


def _post_candidates(session: Session, code: str) -> list[dict[str, Any]]:
    """Who the office may appoint to a post of grid ``code``: the active staff working on
    the grid's community (its first 12 digits), with the posts they hold there, by name."""
    rows = session.execute(
        text(
            "SELECT s.id, s.name, string_agg(DISTINCT g.code || coalesce(' ' || a.post || '岗', "
            "''), '、') AS held FROM staff s "
            "JOIN grid_assignments a ON a.staff_id = s.id AND a.valid_to IS NULL "
            "JOIN grids g ON g.id = a.grid_id AND g.retired_at IS NULL "
            "WHERE s.active AND g.code LIKE :community "
            "AND s.district_adcode = (SELECT district_adcode FROM grids WHERE code = :code) "
            "GROUP BY s.id, s.name ORDER BY s.name, s.id LIMIT 500"
        ),
        {"community": code[:12] + "%", "code": code},
    )
    return [{"id": r.id, "name": r.name, "held": r.held} for r in rows]


# -- the office's admin pages: the catalogue, departments, the holiday calendar ---------------


def _admin_gate(
    request: Request, session: Session, settings: Any, principal: Principal
) -> Response | None:
    """The login page for the public, the refusal page for anyone but an admin (the API's
    writes behind these pages refuse them too), None for an admin."""
    if principal.is_public:
        return _login_redirect(request)
    if not principal.is_admin:
        return _forbidden_page(request, session, settings, principal, "管理员")
    return None


@router.get("/office/categories", response_class=HTMLResponse, summary="类别目录 (admins)")
def office_categories_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    district: DistrictChoiceDep,
) -> Response:
    """The catalogue: name, deadline, department, active, through ``POST/PATCH /categories``."""
    if (refused := _admin_gate(request, session, settings, principal)) is not None:
        return refused
    categories = catalog.list_categories(session, include_inactive=True)
    departments = catalog.list_departments(session, adcode=district)
    return _render(
        request,
        session,
        settings,
        "office_categories.html",
        principal=principal,
        title="类别目录",
        section="categories",
        categories=categories,
        classes=[c for c in categories if c["parent_code"] is None],
        departments=departments,
        department_names={d["code"]: d["name"] for d in departments},
    )


@router.get("/office/departments", response_class=HTMLResponse, summary="承办部门 (admins)")
def office_departments_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    district: DistrictChoiceDep,
) -> Response:
    """The district's departments, through ``POST/PATCH /departments``."""
    if (refused := _admin_gate(request, session, settings, principal)) is not None:
        return refused
    departments = catalog.list_departments(session, adcode=district)
    return _render(
        request,
        session,
        settings,
        "office_departments.html",
        principal=principal,
        title="承办部门",
        section="departments",
        departments=departments,
        kinds=sorted({d["kind"] for d in departments} | {"other"}),
    )


@router.get("/office/calendar", response_class=HTMLResponse, summary="节假日 (admins)")
def office_calendar_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    district: DistrictChoiceDep,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> Response:
    """Holidays and make-up working days of a year, national and the district's own, through
    ``GET/POST/DELETE /calendar/days``."""
    if (refused := _admin_gate(request, session, settings, principal)) is not None:
        return refused
    shown = year or _now(request).astimezone(CHINA_TZ).year
    days = list_calendar_days(
        session,
        district_adcode=district,
        date_from=date(shown, 1, 1),
        date_to=date(shown, 12, 31),
    )
    return _render(
        request,
        session,
        settings,
        "office_calendar.html",
        principal=principal,
        title="节假日与调休",
        section="calendar",
        days=days,
        year=shown,
        years=range(shown - 1, shown + 2),
    )


class AwayUpdate(BaseModel):
    """``away_until`` a date-time: away until then; ``null``: back on duty now."""

    model_config = ConfigDict(extra="forbid")

    away: bool
    away_until: datetime | None = None


@router.post("/office/staff/{staff_id}/away", summary="Mark a worker away until a date, or back")
def staff_away(
    staff_id: Annotated[int, PathParam(ge=1)],
    body: AwayUpdate,
    session: SessionDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """The signboard, report routing and the gaps map then name whoever is on duty by the
    one rule (:mod:`geogrid.rules.on_duty`); an officer may mark only staff of grids in
    reach."""
    staff = session.get(Staff, staff_id)
    codes = session.execute(
        text(
            "SELECT g.code FROM grid_assignments a JOIN grids g ON g.id = a.grid_id "
            "WHERE a.staff_id = :id AND a.valid_to IS NULL"
        ),
        {"id": staff_id},
    ).scalars()
    if staff is None or not any(principal.reaches(c) for c in codes):
        raise NotFoundError(f"There is no staff member {staff_id} within your reach.")
    staff.availability = "away" if body.away else "on_duty"
    staff.away_until = body.away_until if body.away else None
    session.flush()
    return {
        "staff_id": staff.id,
        "name": staff.name,
        "availability": staff.availability,
        "away_until": staff.away_until,
    }


class PostAppoint(BaseModel):
    """Who takes which post. The grid is the path's; from when is the server's clock."""

    model_config = ConfigDict(extra="forbid")

    staff_id: int = Field(ge=1, le=2_147_483_647)
    post: Literal["A", "B"]
    replace: bool = Field(
        default=False, description="end the post's current holder (else 409 when it is held)"
    )


PostCode = Annotated[str, PathParam(pattern=r"^[0-9]{12,18}$", description="The grid code")]


@router.post("/grids/{code}/posts", summary="任命: appoint a staff member to post A or B")
def appoint_grid_post(
    request: Request,
    code: PostCode,
    body: PostAppoint,
    session: SessionDep,
    reach: ReachDep,
) -> JSONResponse:
    """201 with the new holder and the holder it ended (``replace``); 200 when the person
    already holds that post. 409 when the post is held (without ``replace``) or the person
    holds the grid's other post; 422 for staff that is unknown, inactive or of another
    district. The signboard, locate and report routing name the new holder at once."""
    change = appoint_post(
        session,
        code,
        staff_id=body.staff_id,
        post=body.post,
        now=_now(request),
        replace=body.replace,
        reach=reach,
    )
    return JSONResponse(
        jsonable_encoder(change.as_dict()), status_code=201 if change.created else 200
    )


@router.post("/grids/{code}/posts/{post}/end", summary="结束此岗: end the post's current holder")
def end_grid_post(
    request: Request,
    code: PostCode,
    post: Annotated[Literal["A", "B"], PathParam(description="A or B")],
    session: SessionDep,
    reach: ReachDep,
) -> dict[str, Any]:
    """The post is vacant from now (404 when it already is); the on-duty rule says who
    answers meanwhile."""
    change = end_post(session, code, post, now=_now(request), reach=reach)
    answer: dict[str, Any] = jsonable_encoder(change.as_dict())
    return answer


# -- department -----------------------------------------------------------------------------


@router.get("/dept", response_class=HTMLResponse, summary="部门工作台: issues dispatched to it")
def dept_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    district: DistrictChoiceDep,
) -> Response:
    if principal.is_public:
        return _login_redirect(request)
    if principal.department_id is None:
        return _forbidden_page(request, session, settings, principal, "部门")
    now = _now(request)
    items = queue(
        session,
        LedgerFilter(district_adcode=district),
        now=now,
        department_id=principal.department_id,
    )
    return _render(
        request,
        session,
        settings,
        "dept.html",
        principal=principal,
        title="部门工作台",
        queue=items,
        now=now,
    )


class ReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=2000)
    kind: Literal["reply", "dept_accepted"] = "reply"


@router.post("/issues/{issue_id}/replies", summary="A department's reply or acceptance (报到)")
def post_reply(
    request: Request,
    issue_id: Annotated[int, PathParam(ge=1)],
    body: ReplyCreate,
    session: SessionDep,
    actor: ActorDep,
) -> Any:
    """A note on the timeline that changes no state: the department says it has taken the
    issue (报到) or answers the office."""
    now = _now(request)
    issue_detail(session, issue_id, now=now)  # 404 outside reach
    session.execute(
        text(
            "INSERT INTO issue_events (issue_id, at, actor, kind, note) "
            "VALUES (:id, :at, :actor, :kind, :note)"
        ),
        {"id": issue_id, "at": now, "actor": actor, "kind": body.kind, "note": body.note},
    )
    return jsonable_encoder(issue_detail(session, issue_id, now=now))
