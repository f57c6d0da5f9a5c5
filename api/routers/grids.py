"""Routes for grids: GeoJSON in and out, codes as identifiers, ETag/If-Match on every edit.

Thin: each route parses the request, calls :mod:`geogrid.grids` and shapes the response.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.orm import Session

from api.deps import ActorDep, ReachDep, SessionDep, SettingsDep
from api.preconditions import (
    IfMatchHeader,
    entity_tag,
    expected_version,
    expected_versions,
    parse_if_match,
)
from api.responses import GEOJSON, GeoJSONResponse, answers_in
from api.schemas_grids import (
    GridFeatureCreate,
    GridFeatureRead,
    GridFeatureUpdate,
    MergeRequest,
    RestoreRequest,
)
from geogrid.errors import InvalidInputError
from geogrid.grids import children_gaps, drawing, lifecycle, restructure
from geogrid.grids import repository as repo
from geogrid.grids.geojson import (
    GridRecord,
    ParsedFeature,
    crs_name,
    feature_collection,
    feature_collection_json,
    grid_feature,
)
from geogrid.grids.signboard import grid_signboard, signboard_html, signboard_json
from geogrid.grids.validation import parse_fix
from geogrid.spatial.bbox import parse_bbox

router = APIRouter(tags=["grids"])

Code = Annotated[str, Path(description="The grid code (12, 15 or 18 digits).")]
At = Annotated[
    str | None,
    Query(description="ISO date or datetime (no offset: UTC+8): boundaries as they stood then."),
]
Crs = Annotated[
    str | None,
    Query(description="Coordinates of the input: EPSG:4326 (default), EPSG:4490, GCJ-02, BD-09."),
]
Fix = Annotated[
    Literal["clip"] | None,
    Query(description="clip: cut the boundary to its parent and out of its siblings."),
]
Reason = Annotated[str | None, Query(description="Why: stored as change_reason.")]


def _geojson(
    body: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    return GeoJSONResponse(body, status_code=status, headers=headers)


def _feature(record: GridRecord, fixes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    feature = grid_feature(record)
    if fixes:
        feature["fixes"] = fixes
    return feature


def _parsed(feature: GridFeatureCreate | GridFeatureUpdate) -> ParsedFeature:
    return ParsedFeature(
        geometry=feature.geometry,
        properties=feature.properties.model_dump(exclude_unset=True),
        crs=crs_name(feature.crs),
    )


def _etag(record: GridRecord) -> str:
    """A grid's entity tag: ``"<code>-v<current version>"`` (:mod:`api.preconditions`)."""
    return entity_tag(record.code, record.current_version)


def _latest_version(session: Session, code: str) -> int:
    """The version ``If-Match: *`` stands for: the grid's last one, retired or not."""
    return repo.history(session, code)[-1].current_version


def _expected(session: Session, code: str, if_match: str | None) -> int | None:
    """The version an edit of ``code`` was made on, from ``If-Match`` (428 when absent)."""
    return expected_version(
        parse_if_match(if_match),
        code,
        what="grid",
        read_path=f"/grids/{code}",
        required=True,
        current=lambda: _latest_version(session, code),
        id_field="code",
    )


def _expected_all(session: Session, codes: Sequence[str], if_match: str | None) -> dict[str, int]:
    """The version each grid of a merge was read at: ``If-Match`` names them all."""
    return expected_versions(
        parse_if_match(if_match),
        sorted(set(codes)),
        what="grid",
        read_path=lambda code: f"/grids/{code}",
        current=lambda code: _latest_version(session, code),
        id_field="code",
    )


def _edited(result: drawing.EditResult, *, created: bool = False) -> JSONResponse:
    """The grid after an edit with its new ETag, the precondition of the next edit (a new grid:
    201 and its Location)."""
    record = result.record
    headers = {"ETag": _etag(record)}
    if created:
        headers["Location"] = f"/grids/{record.code}"
    return _geojson(_feature(record, result.fixes), status=201 if created else 200, headers=headers)


@router.get(
    "/grids",
    response_class=GeoJSONResponse,
    summary="Grids as a FeatureCollection, filtered and paged",
)
def list_grids(
    request: Request,
    session: SessionDep,
    level: Annotated[int | None, Query(ge=1, le=3)] = None,
    kind: Annotated[Literal["general", "dedicated"] | None, Query()] = None,
    parent: Annotated[str | None, Query(description="A grid code: its children.")] = None,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat")] = None,
    at: At = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    page = repo.list_grids_geojson(
        session,
        level=level,
        kind=kind,
        parent=parent,
        bbox=parse_bbox(bbox),
        at=repo.parse_at(at),
        limit=limit,
        offset=offset,
    )
    links = [{"rel": "self", "type": GEOJSON, "href": str(request.url)}]
    if offset + page.returned < page.matched:
        nxt = request.url.include_query_params(offset=offset + limit, limit=limit)
        links.append({"rel": "next", "type": GEOJSON, "href": str(nxt)})
    if offset > 0:
        prev = request.url.include_query_params(offset=max(offset - limit, 0), limit=limit)
        links.append({"rel": "prev", "type": GEOJSON, "href": str(prev)})
    # the Features written by PostgreSQL, spliced in as text (feature_collection_json)
    body = feature_collection_json(
        page.features_text, page.returned, number_matched=page.matched, links=links
    )
    return Response(body, media_type=GEOJSON)


@router.post(
    "/grids",
    status_code=201,
    response_class=GeoJSONResponse,
    summary="Create a grid (the server issues the code)",
)
def create_grid(
    session: SessionDep,
    actor: ActorDep,
    reach: ReachDep,
    settings: SettingsDep,
    feature: GridFeatureCreate,
    crs: Crs = None,
    fix: Fix = None,
    reason: Reason = None,
) -> JSONResponse:
    result = drawing.create_grid(
        session,
        _parsed(feature),
        actor=actor,
        reach=reach,
        reason=reason or feature.reason,
        crs=crs,
        fix=parse_fix(fix),
        tolerance_m=settings.geometry_tolerance_m,
    )
    return _edited(result, created=True)


@router.post(
    "/grids/merge", status_code=201, summary="Merge adjacent sibling grids into one new grid"
)
def merge_grids(
    session: SessionDep,
    actor: ActorDep,
    reach: ReachDep,
    settings: SettingsDep,
    body: MergeRequest,
    if_match: IfMatchHeader = None,
    reason: Reason = None,
) -> JSONResponse:
    result = restructure.merge_grids(
        session,
        body.codes,
        expected_versions=_expected_all(session, body.codes, if_match),
        actor=actor,
        reach=reach,
        reason=reason or body.reason,
        name=body.name,
        tolerance_m=settings.geometry_tolerance_m,
    )
    return JSONResponse(result.as_dict(), status_code=201)


@router.get(
    "/grids/{code}",
    summary="One grid (its current version, or as it stood at `at`)",
    responses={200: {"model": GridFeatureRead, "content": {GEOJSON: {}}}},
)
def get_grid(
    session: SessionDep,
    code: Code,
    at: At = None,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    record = repo.get_current(session, code, at=repo.parse_at(at))
    tag = _etag(record)
    if at is None and if_none_match and tag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers={"ETag": tag})
    headers = {"ETag": tag} if record.is_current else {}
    return _geojson(_feature(record), headers=headers)


@router.patch(
    "/grids/{code}",
    response_class=GeoJSONResponse,
    summary="Edit geometry and/or attributes: a new version",
)
def update_grid(
    session: SessionDep,
    actor: ActorDep,
    reach: ReachDep,
    settings: SettingsDep,
    code: Code,
    feature: GridFeatureUpdate,
    if_match: IfMatchHeader = None,
    crs: Crs = None,
    fix: Fix = None,
    reason: Reason = None,
) -> JSONResponse:
    result = drawing.update_grid(
        session,
        code,
        _parsed(feature),
        expected_version=_expected(session, code, if_match),
        actor=actor,
        reach=reach,
        reason=reason or feature.reason,
        crs=crs,
        fix=parse_fix(fix),
        tolerance_m=settings.geometry_tolerance_m,
    )
    return _edited(result)


@router.delete(
    "/grids/{code}",
    response_class=GeoJSONResponse,
    summary="Retire a grid (history stays; 409 with children)",
    description="Records who retired it and why; moves its open issues by location (to the "
    "deepest current general grid, or the district queue); ends its staff assignments and "
    "lists them in `staff_decisions`. The answer is the retired grid's last version as a "
    "Feature with those as foreign members.",
)
def retire_grid(
    session: SessionDep,
    actor: ActorDep,
    reach: ReachDep,
    code: Code,
    if_match: IfMatchHeader = None,
    reason: Reason = None,
) -> JSONResponse:
    result = lifecycle.retire(
        session,
        code,
        expected_version=_expected(session, code, if_match),
        actor=actor,
        reach=reach,
        reason=reason,
    )
    return _geojson(_feature(result.record) | result.members())


@router.get(
    "/grids/{code}/signboard",
    summary="The grid's signboard (网格信息公示牌): A/B posts, on duty, party branch",
    responses=answers_in("text/html"),
    response_model=None,
)
def get_signboard(
    request: Request,
    session: SessionDep,
    code: Annotated[str, Path(description="Grid code")],
    format: Annotated[
        Literal["json", "html"], Query(description="html: a printable card")
    ] = "json",
) -> Response:
    board, chain, district = grid_signboard(session, code)
    if format == "html":
        report_url = str(request.base_url) + f"report?grid={code}"
        return HTMLResponse(signboard_html(board, chain, district, report_url=report_url))
    return JSONResponse(signboard_json(board, chain, district))


@router.get("/grids/{code}/children", response_class=GeoJSONResponse, summary="Child grids")
def grid_children(session: SessionDep, code: Code, at: At = None) -> JSONResponse:
    records = repo.children(session, code, at=repo.parse_at(at))
    return _geojson(feature_collection(records, number_matched=len(records)))


@router.get(
    "/grids/{code}/ancestors",
    response_class=GeoJSONResponse,
    summary="Parent, grandparent... nearest first",
)
def grid_ancestors(session: SessionDep, code: Code, at: At = None) -> JSONResponse:
    records = repo.ancestors(session, code, at=repo.parse_at(at))
    return _geojson(feature_collection(records, number_matched=len(records)))


@router.get(
    "/grids/{code}/history", response_class=GeoJSONResponse, summary="Every version: who, when, why"
)
def grid_history(session: SessionDep, code: Code) -> JSONResponse:
    records = repo.history(session, code)
    return _geojson(
        feature_collection(
            records,
            number_matched=len(records),
            with_history=True,
            retirements=repo.retirements(session, records[0].grid_id),
        )
    )


@router.post(
    "/grids/{code}/restore",
    response_class=GeoJSONResponse,
    summary="Bring back an old version as a new version; un-retire a retired grid",
    description="On a retired grid (`version` defaults to its last one): brings it back with "
    "the same code when its boundary still fits the current parent and siblings (422 naming "
    "the grids in the way; 409 when the parent is retired). If-Match: the ETag of its last "
    'version, "<code>-v<n>" (see /history).',
)
def restore_grid(
    session: SessionDep,
    actor: ActorDep,
    reach: ReachDep,
    settings: SettingsDep,
    code: Code,
    body: RestoreRequest,
    if_match: IfMatchHeader = None,
    fix: Fix = None,
    reason: Reason = None,
) -> JSONResponse:
    result = lifecycle.restore_grid(
        session,
        code,
        body.version,
        expected_version=_expected(session, code, if_match),
        actor=actor,
        reach=reach,
        reason=reason or body.reason,
        fix=parse_fix(fix),
        tolerance_m=settings.geometry_tolerance_m,
    )
    return _edited(result)


@router.post("/grids/{code}/split", status_code=201, summary="Cut a grid along a LineString")
def split_grid(
    session: SessionDep,
    actor: ActorDep,
    reach: ReachDep,
    settings: SettingsDep,
    code: Code,
    body: Annotated[
        dict[str, Any],
        Body(
            description="A GeoJSON LineString (or a Feature of one); or "
            '{"line": <LineString>, "names": ["…", "…"], "reason": "…"}.',
            examples=[{"type": "LineString", "coordinates": [[109.77, 34.50], [109.78, 34.52]]}],
        ),
    ],
    if_match: IfMatchHeader = None,
    crs: Crs = None,
    reason: Reason = None,
) -> JSONResponse:
    line = body.get("line", body)
    names = body.get("names")
    if names is not None and not (
        isinstance(names, list) and all(isinstance(n, str) for n in names)
    ):
        raise InvalidInputError("names must be a list of strings.", rule="names")
    result = restructure.split_grid(
        session,
        code,
        line,
        expected_version=_expected(session, code, if_match),
        actor=actor,
        reach=reach,
        reason=reason or body.get("reason"),
        crs=crs
        or crs_name(body.get("crs") or (line.get("crs") if isinstance(line, dict) else None)),
        names=names,
        tolerance_m=settings.geometry_tolerance_m,
    )
    return JSONResponse(result.as_dict(), status_code=201)


@router.get(
    "/grids/{code}/gaps",
    response_class=GeoJSONResponse,
    summary="Holes between the children, and their overlaps",
)
def grid_gaps(session: SessionDep, settings: SettingsDep, code: Code) -> JSONResponse:
    return _geojson(children_gaps.gaps(session, code, tolerance_m=settings.geometry_tolerance_m))
