"""Who is calling, and may they: logins for the web layer.

One dependency, :func:`get_principal`, runs before every route (``install_auth`` adds it to the
app's router): it reads the bearer token or the page session cookie, checks the CSRF token of a
cookie-authenticated write, applies the route's access rule (:data:`ACCESS`, by method and path
template, so a new route is staff-only for reads and admin-only for writes until it is listed),
and hands the caller's reach to the database for the request's transaction, where row-level
security enforces it (``geogrid.auth.principal``). Routes read the caller with
:data:`PrincipalDep`; the actor of a change is the login (:data:`api.deps.ActorDep`).

The login page (``/login``) opens a session: an HttpOnly, SameSite=Lax cookie (Secure over
TLS) and a CSRF token, readable by the page's scripts from the ``geogrid_csrf`` cookie, to be
sent back as ``X-CSRF-Token`` on every ``fetch`` write (or as a ``csrf_token`` form field).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError

from api.deps import SessionDep, SettingsDep
from api.problems import problem_response, unavailable_problem
from geogrid.auth import accounts
from geogrid.auth.audit import AuditFilter, audit_page
from geogrid.auth.principal import PUBLIC, Principal, apply_principal
from geogrid.auth.privacy import bind_cipher, cipher_from_settings
from geogrid.errors import ForbiddenError, UnauthenticatedError
from geogrid.settings import Settings

__all__ = [
    "ACCESS",
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "Access",
    "PrincipalDep",
    "access_of",
    "get_principal",
    "install_auth",
]

SESSION_COOKIE: Final = "geogrid_session"
CSRF_COOKIE: Final = "geogrid_csrf"
CSRF_HEADER: Final = "X-CSRF-Token"
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Access:
    """Who may call a route. ``level``: ``public`` (anyone), ``staff`` (any login, data limited
    to its reach), ``officer`` (admins and district/street/community officers) or ``admin``.
    ``unrestricted``: the route itself is the boundary and reads or writes past the caller's
    reach (a public report writes an issue the public may not read back; Open311 request reads
    show public fields of every issue)."""

    level: str
    unrestricted: bool = False
    #: A staff route the public may also read when ``publish_aggregates`` is on.
    aggregate: bool = False


PUBLIC_READ: Final = Access("public")
PUBLIC_BOUNDARY: Final = Access("public", unrestricted=True)
STAFF: Final = Access("staff")
OFFICER: Final = Access("officer")
ADMIN: Final = Access("admin")
AGGREGATE: Final = Access("staff", aggregate=True)

#: The access rule of each route, by (method, path template). Routes not listed: reads need a
#: login, writes an admin (a new route is closed until someone decides who may use it).
ACCESS: Final[dict[tuple[str, str], Access]] = {
    # pages, health, problem types, login
    ("GET", "/"): PUBLIC_READ,
    ("GET", "/health"): PUBLIC_READ,
    ("GET", "/problems"): PUBLIC_READ,
    ("GET", "/problems/{rule}"): PUBLIC_READ,
    ("GET", "/login"): PUBLIC_READ,
    ("POST", "/login"): PUBLIC_READ,
    ("POST", "/logout"): PUBLIC_READ,
    ("GET", "/me"): STAFF,
    # locate and signboards: what residents ask
    ("GET", "/locate"): PUBLIC_READ,
    ("GET", "/locate/address"): PUBLIC_READ,
    ("POST", "/locate/batch"): STAFF,
    ("POST", "/locate/addresses"): STAFF,
    ("GET", "/grids/{code}/signboard"): PUBLIC_READ,
    ("GET", "/grids/{code}/signboard.png"): PUBLIC_READ,
    ("GET", "/grids/{code}/signboard.svg"): PUBLIC_READ,
    # grid boundaries are public (printed on signboards); writes are officers', within reach
    ("GET", "/grids"): PUBLIC_READ,
    ("GET", "/grids/{code}"): PUBLIC_READ,
    ("GET", "/grids/{code}/children"): PUBLIC_READ,
    ("GET", "/grids/{code}/ancestors"): PUBLIC_READ,
    ("POST", "/grids"): OFFICER,
    ("POST", "/grids/merge"): OFFICER,
    ("PATCH", "/grids/{code}"): OFFICER,
    ("DELETE", "/grids/{code}"): OFFICER,
    ("POST", "/grids/{code}/restore"): OFFICER,
    ("POST", "/grids/{code}/split"): OFFICER,
    ("POST", "/grids/import"): ADMIN,
    ("GET", "/maps/grids"): PUBLIC_READ,
    ("POST", "/maps/shift"): PUBLIC_READ,  # reads: GeoJSON in, the same shifted out
    ("GET", "/analysis/grids"): PUBLIC_READ,
    ("GET", "/analysis/layers/grids"): PUBLIC_READ,  # what /maps/grids fetches
    # the report form and Open311: public
    ("GET", "/categories"): PUBLIC_READ,
    ("GET", "/departments"): PUBLIC_READ,
    ("POST", "/issues"): PUBLIC_BOUNDARY,
    ("GET", "/open311/v2/discovery.{fmt}"): PUBLIC_READ,
    ("GET", "/open311/v2/services.{fmt}"): PUBLIC_READ,
    ("GET", "/open311/v2/services/{service_code}.{fmt}"): PUBLIC_READ,
    ("POST", "/open311/v2/requests.{fmt}"): PUBLIC_BOUNDARY,
    ("GET", "/open311/v2/requests.{fmt}"): PUBLIC_BOUNDARY,
    ("GET", "/open311/v2/requests/{request_id}.{fmt}"): PUBLIC_BOUNDARY,
    ("GET", "/open311/v2/tokens/{token}.{fmt}"): PUBLIC_BOUNDARY,
    # OGC API Features: grids public, the issues collection filtered to the caller's reach
    ("GET", "/ogc"): PUBLIC_READ,
    ("GET", "/ogc/"): PUBLIC_READ,
    ("GET", "/ogc/conformance"): PUBLIC_READ,
    ("GET", "/ogc/collections"): PUBLIC_READ,
    ("GET", "/ogc/collections/{collectionId}"): PUBLIC_READ,
    ("GET", "/ogc/collections/{collectionId}/items"): PUBLIC_READ,
    ("GET", "/ogc/collections/{collectionId}/queryables"): PUBLIC_READ,
    ("GET", "/ogc/collections/{collectionId}/items/{featureId}"): PUBLIC_READ,
    # the working calendar is public knowledge; the catalogue and calendar are the admin's
    ("GET", "/calendar/days"): PUBLIC_READ,
    ("POST", "/calendar/days"): ADMIN,
    ("DELETE", "/calendar/days/{day}"): ADMIN,
    ("POST", "/categories"): ADMIN,
    ("PATCH", "/categories/{code}"): ADMIN,
    ("POST", "/departments"): ADMIN,
    ("PATCH", "/departments/{code}"): ADMIN,
    # the queue: staff within reach (row-level security)
    ("POST", "/issues/{issue_id}/transitions"): STAFF,
    ("POST", "/issues/{issue_id}/escalate"): STAFF,
    ("POST", "/issues/{issue_id}/photos"): STAFF,
    ("POST", "/grids/{code}/agenda/decisions"): STAFF,
    # aggregated maps the public may see when the setting publishes them
    ("GET", "/analysis/rates"): AGGREGATE,
    ("GET", "/maps/rates"): AGGREGATE,
    ("GET", "/analysis/layers/rates"): AGGREGATE,  # what /maps/rates fetches
    # the audit trail
    ("GET", "/audit"): OFFICER,
    # pages for people (issue 11). The logged-in pages are listed public so that a browser
    # without a session is sent to /login instead of receiving a 401 problem; each page
    # checks the role itself. A report from the page, its photos, the tracking page and the
    # rating are the boundary (the resident holds the report's random key).
    ("GET", "/find"): PUBLIC_READ,
    ("GET", "/report"): PUBLIC_READ,
    ("POST", "/report/submit"): PUBLIC_BOUNDARY,
    ("POST", "/report/{token}/photos"): PUBLIC_BOUNDARY,
    ("GET", "/track/{token}"): PUBLIC_BOUNDARY,
    ("POST", "/track/{token}/rating"): PUBLIC_BOUNDARY,
    ("GET", "/work"): PUBLIC_READ,
    ("GET", "/office"): PUBLIC_READ,
    ("GET", "/dept"): PUBLIC_READ,
    ("GET", "/office/categories"): PUBLIC_READ,
    ("GET", "/office/departments"): PUBLIC_READ,
    ("GET", "/office/calendar"): PUBLIC_READ,
    ("POST", "/rounds/visits"): STAFF,
    ("POST", "/rounds/patrols"): STAFF,
    ("POST", "/rounds/patrols/{patrol_id}/points"): STAFF,
    ("POST", "/rounds/patrols/{patrol_id}/end"): STAFF,
    ("POST", "/office/staff/{staff_id}/away"): OFFICER,
    # appointing and ending a grid's A/B posts: officers, within reach of the grid
    ("POST", "/grids/{code}/posts"): OFFICER,
    ("POST", "/grids/{code}/posts/{post}/end"): OFFICER,
    ("POST", "/issues/{issue_id}/replies"): STAFF,
    # the API's own documentation (served offline; a setting switches it off)
    ("GET", "/docs"): PUBLIC_READ,
    ("GET", "/redoc"): PUBLIC_READ,
    ("GET", "/openapi.json"): PUBLIC_READ,
    # vector tiles: grid layers and TileJSON public like /grids; the issues layer needs a login
    # (the route refuses the public) and row security keeps it to the caller's reach
    ("GET", "/tiles"): PUBLIC_READ,
    ("GET", "/tiles/{layer}.json"): PUBLIC_READ,
    ("GET", "/tiles/{layer}/{z}/{x}/{y}.mvt"): PUBLIC_READ,
    # districts: which exist is public; adding and removing is the admin's
    ("GET", "/districts"): PUBLIC_READ,
    # proposed grids (智能划网): officers, within reach
    ("POST", "/grids/{code}/proposals"): OFFICER,
    ("GET", "/proposals/{proposal_id}"): OFFICER,
    ("PATCH", "/proposals/{proposal_id}/features/{index}"): OFFICER,
    ("POST", "/proposals/{proposal_id}/apply"): OFFICER,
    ("POST", "/proposals/{proposal_id}/discard"): OFFICER,
    # the balance before and after the drafts: officers (drafts are not public decisions)
    ("GET", "/analysis/balance"): OFFICER,
    ("GET", "/maps/balance"): OFFICER,
    ("GET", "/analysis/layers/balance"): OFFICER,  # what /maps/balance fetches
}


def access_of(method: str, path: str) -> Access:
    """The access rule of ``method path`` (a route's path template)."""
    method = "GET" if method == "HEAD" else method
    found = ACCESS.get((method, path))
    if found is not None:
        return found
    return STAFF if method in _SAFE_METHODS else ADMIN


def _clock(request: Request) -> datetime:
    """The request's time: ``app.state.clock`` when a test set one, else the wall clock."""
    clock: Callable[[], datetime] | None = getattr(request.app.state, "clock", None)
    return clock() if clock is not None else datetime.now(UTC)


def _authenticate(request: Request, session: Any, now: datetime) -> tuple[Principal, str | None]:
    """The caller and, for a cookie session, the CSRF token it must send with writes."""
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise UnauthenticatedError(
                "Authorization must be `Bearer <token>`.", rule="login_required"
            )
        found = accounts.authenticate_token(session, secret.strip(), kind="api", now=now)
        if found is None:
            raise UnauthenticatedError(
                "The bearer token is unknown, expired or revoked: ask for a new one "
                "(geogrid users tokens create).",
                rule="login_required",
            )
        return found[0], None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        found = accounts.authenticate_token(session, cookie, kind="session", now=now)
        if found is not None:
            return found[0], found[1].csrf_token or ""
    return PUBLIC, None


def get_principal(request: Request, session: SessionDep, settings: SettingsDep) -> Principal:
    """Authenticate the request, apply the route's access rule and the caller's reach."""
    now = _clock(request)
    principal, csrf_expected = _authenticate(request, session, now)
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    access = access_of(request.method, path)
    if (
        csrf_expected is not None
        and request.method not in _SAFE_METHODS
        and path not in ("/login", "/logout")
    ):
        given = request.headers.get(CSRF_HEADER) or request.query_params.get("csrf_token")
        if not accounts.csrf_matches(csrf_expected, given):
            raise ForbiddenError(
                "This write came with the page's session cookie but without its CSRF token: "
                f"send the {CSRF_HEADER} header (the {CSRF_COOKIE} cookie's value).",
                rule="csrf",
            )
    unrestricted = access.unrestricted
    if principal.is_public and access.level != "public":
        if access.aggregate and settings.publish_aggregates:
            unrestricted = True
        else:
            raise UnauthenticatedError(
                f"{request.method} {path} needs a login: send `Authorization: Bearer <token>` "
                "or log in at /login.",
                rule="login_required",
            )
    elif access.level == "officer" and not principal.is_officer:
        raise ForbiddenError(
            f"{request.method} {path} is for officers and administrators; "
            f"a {principal.role} may not use it.",
            rule="role",
        )
    elif access.level == "admin" and not principal.is_admin:
        raise ForbiddenError(
            f"{request.method} {path} is for administrators; a {principal.role} may not use it.",
            rule="role",
        )
    apply_principal(session, principal, unrestricted=unrestricted)
    bind_cipher(session, request.app.state.reporter_cipher)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]

router = APIRouter(tags=["access"])

_LOGIN_PAGE: Final = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>登录 · geogrid</title>
<style>body{{font-family:sans-serif;max-width:22rem;margin:3rem auto;padding:0 1rem}}
label{{display:block;margin:.8rem 0 .2rem}}input{{width:100%;padding:.5rem;font-size:1rem}}
button{{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem}}.error{{color:#b00020}}</style>
</head><body>
<h1>网格化管理 登录</h1>
{error}
<form method="post" action="/login">
<input type="hidden" name="next" value="{next}">
<label for="username">用户名</label>
<input id="username" name="username" autocomplete="username" required maxlength="64">
<label for="password">密码</label>
<input id="password" name="password" type="password" autocomplete="current-password"
 required maxlength="200">
<button type="submit">登录</button>
</form></body></html>"""


def _safe_next(target: str | None) -> str:
    """Only a path on this server: an open redirect would hand the login to another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _login_page(next_path: str, error: str | None = None, status: int = 200) -> HTMLResponse:
    message = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return HTMLResponse(
        _LOGIN_PAGE.format(error=message, next=html.escape(_safe_next(next_path))),
        status_code=status,
    )


@router.get("/login", response_class=HTMLResponse, summary="The login page (用户名, 密码)")
def login_page(next: str = "/") -> HTMLResponse:
    return _login_page(next)


@router.post("/login", summary="Log in: a session cookie and its CSRF token")
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    """A page login. Answers a redirect to ``next`` for a browser form, JSON
    ``{username, role, csrf_token}`` for a client that accepts JSON; 401 on a wrong name or
    password (the failure is committed, so the throttle counts it), 429 past the throttle."""
    address = request.client.host if request.client else "unknown"
    now = _clock(request)
    result = accounts.log_in(
        session, username, password, address=address, settings=settings, now=now
    )
    wants_json = "application/json" in request.headers.get("accept", "")
    if result is None:
        if wants_json:
            return problem_response(
                401,
                "Login failed",
                "The user name or the password is wrong (or the account is disabled).",
                rule="login_failed",
                instance="/login",
            )
        return _login_page(next, "用户名或密码错误。", status=401)
    principal, issued = result
    response: Response
    if wants_json:
        response = JSONResponse(
            {"username": principal.username, "role": principal.role, "csrf_token": issued.csrf}
        )
    else:
        response = RedirectResponse(_safe_next(next), status_code=303)
    secure = request.url.scheme == "https"
    max_age = int(timedelta(hours=settings.session_hours).total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        issued.secret,
        max_age=max_age,
        httponly=True,
        secure=secure,
        samesite="lax",
    )
    response.set_cookie(
        CSRF_COOKIE, issued.csrf or "", max_age=max_age, secure=secure, samesite="lax"
    )
    return response


@router.post("/logout", status_code=204, summary="End the page session")
def logout(request: Request, session: SessionDep) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        accounts.revoke_secret(session, cookie, now=_clock(request))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response


@router.get("/me", summary="Who the caller is: role and reach")
def me(principal: PrincipalDep) -> dict[str, Any]:
    return {
        "username": principal.username,
        "role": principal.role,
        "reach": None if principal.reach is None else list(principal.reach),
        "department_id": principal.department_id,
    }


@router.get("/audit", summary="The audit trail: who changed what, when, before and after")
def audit(
    session: SessionDep,
    principal: PrincipalDep,
    table: str | None = None,
    actor: str | None = None,
    grid: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Newest first. Officers read the entries about grids in their reach; admins read all."""
    return audit_page(
        session,
        AuditFilter(table=table, actor=actor, grid=grid, since=since, until=until),
        reach=principal.reach,
        limit=limit,
        offset=offset,
    )


def install_auth(app: FastAPI, settings: Settings) -> None:
    """Authenticate every route and serve the login routes. Call before including routers:
    the dependency is added to the app's router, which copies it into each route it includes.
    """
    app.state.reporter_cipher = cipher_from_settings(settings)
    app.router.dependencies.append(Depends(get_principal))
    app.include_router(router)

    @app.exception_handler(DBAPIError)
    async def _row_policy(request: Request, exc: DBAPIError) -> Response:
        # A write that row-level security refused is a write outside the caller's reach:
        # the object does not exist for them (404, never 403). Anything else is unexpected.
        if getattr(exc.orig, "sqlstate", None) == "42501":
            return problem_response(
                404,
                "Not found",
                "There is no such object within your reach.",
                rule="not_found",
                instance=request.url.path,
            )
        # a database that is away is a 503 (api.problems), whatever error class carries it
        unavailable = unavailable_problem(request, exc)
        if unavailable is not None:
            return unavailable
        raise exc
