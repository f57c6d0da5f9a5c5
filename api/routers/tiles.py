"""Vector tiles (``/tiles/{layer}/{z}/{x}/{y}.mvt``) and their TileJSON (``/tiles/{layer}.json``).

Headers: a strong ``ETag`` from the layer's revision counter (grids: ``boundary_revisions``;
issues: ``issue_revisions``), so ``If-None-Match`` answers 304 after one row read, before the
tile is built. ``Cache-Control`` is ``no-cache`` for current data (revalidate each use, see
``GEOGRID_TILES_MAX_AGE_S``) and an hour for ``at=`` in the past, whose boundaries do not move.
A tile with no feature is ``204 No Content`` (with the same headers), never an error.

Access: grid layers and every TileJSON are public, like ``/grids`` (boundaries are printed on
signboards). The issues layer needs a login, and row-level security limits its points and
counts to the caller's reach; its tiles therefore differ per caller, so they are ``private``,
vary by ``Authorization`` and ``Cookie``, and their ETag names the reach (a browser shared by
two logins must not revalidate one's tile with the other's tag).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from api.auth import PrincipalDep
from api.deps import SessionDep, SettingsDep
from api.routers.analysis_params import DistrictDep
from geogrid.analysis.filters import IssueFilter
from geogrid.analysis.layers import district_name
from geogrid.auth.principal import Principal, encode_reach
from geogrid.errors import UnauthenticatedError
from geogrid.grids.repository import now as db_now
from geogrid.grids.repository import parse_at
from geogrid.tiles import (
    district_bounds,
    district_tiles,
    tile_bytes,
    tile_layer,
    tile_tag,
    tilejson,
    tiles_index,
)
from geogrid.tiles.layers import MAX_ZOOM, check_tile

router = APIRouter(prefix="/tiles", tags=["tiles"])

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
PAST_MAX_AGE_S = 3600

At = Annotated[
    str | None,
    Query(description="Grids as they stood at this ISO date or datetime (no offset: UTC+8)."),
]
Start = Annotated[datetime | None, Query(description="issues layer: reported from (ISO 8601).")]
End = Annotated[datetime | None, Query(description="issues layer: reported before (ISO 8601).")]
Category = Annotated[str | None, Query(description="issues layer: category or class code.")]
Status = Annotated[list[str] | None, Query(description="issues layer: statuses (repeat).")]


def _issue_filter(
    start: datetime | None, end: datetime | None, category: str | None, status: list[str] | None
) -> IssueFilter | None:
    if start is None and end is None and category is None and not status:
        return None
    return IssueFilter(start=start, end=end, category=category, statuses=tuple(status or ()))


def _reach_tag(principal: Principal) -> str:
    """A short digest of what the caller's row security lets through: reach and department."""
    seen = f"{encode_reach(principal.reach)}|{principal.department_id or ''}"
    return hashlib.sha256(seen.encode()).hexdigest()[:12]


@router.get("", summary="The tile layers and the URLs of their TileJSON documents")
def list_layers(request: Request, district: DistrictDep) -> dict[str, object]:
    return tiles_index(base_url=str(request.base_url), district_adcode=district)


@router.get("/{layer}.json", summary="TileJSON 3.0.0 of one layer (MapLibre, QGIS)")
def layer_tilejson(
    layer: str,
    request: Request,
    session: SessionDep,
    district: DistrictDep,
    at: At = None,
) -> dict[str, object]:
    spec = tile_layer(layer)
    district_tiles(session, district)  # 404 for a district this installation does not hold
    query = {"at": at} if at and spec.is_grids else {}
    return tilejson(
        spec,
        base_url=str(request.base_url),
        district_adcode=district,
        district_name=district_name(session, district),
        bounds=district_bounds(session, district),
        query=query,
    )


@router.get(
    "/{layer}/{z}/{x}/{y}.mvt",
    summary="One vector tile (Mapbox Vector Tile) of a layer",
    response_class=Response,
    responses={
        200: {"content": {MVT_MEDIA_TYPE: {}}},
        204: {"description": "No feature of the layer in this tile."},
        304: {"description": "The tile named by If-None-Match is still current."},
    },
)
def get_tile(
    layer: str,
    z: Annotated[int, Path(ge=0, le=MAX_ZOOM)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    district: DistrictDep,
    at: At = None,
    start: Start = None,
    end: End = None,
    category: Category = None,
    status: Status = None,
    *,
    principal: PrincipalDep,
) -> Response:
    spec = tile_layer(layer)
    if not spec.is_grids and principal.is_public:
        raise UnauthenticatedError(
            f"The {spec.name} tile layer is for staff within their reach: send "
            "`Authorization: Bearer <token>` or log in at /login (grid layers are public).",
            rule="login_required",
        )
    check_tile(spec, z, x, y)
    when = parse_at(at)
    issue_filter = _issue_filter(start, end, category, status)
    revisions = district_tiles(session, district)
    tag = tile_tag(revisions, spec, z, x, y, at=when, issue_filter=issue_filter)
    past = when is not None and when < db_now(session)
    max_age = PAST_MAX_AGE_S if past else settings.tiles_max_age_s
    scope, vary = "public", "Accept-Encoding"
    if not spec.is_grids:
        tag = f"{tag}-{_reach_tag(principal)}"
        scope, vary = "private", "Accept-Encoding, Authorization, Cookie"
    etag = f'"{tag}"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"{scope}, max-age={max_age}" if max_age else f"{scope}, no-cache",
        "Vary": vary,
    }
    if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    data = tile_bytes(
        session, spec, z, x, y, district_adcode=district, at=when, issue_filter=issue_filter
    )
    if not data:
        return Response(status_code=204, headers=headers)
    return Response(data, media_type=MVT_MEDIA_TYPE, headers=headers)
