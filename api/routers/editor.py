"""The browser editor of grid boundaries: ``GET /editor`` and its own script and stylesheet.

The page saves through the grids API; the only data route here is the list of grids that can
be parents (``GET /editor/parents``), small enough for a picker.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from api.deps import SessionDep, SettingsDep
from geogrid.maps.editor import editor_html, parent_options, static_file

router = APIRouter(tags=["editor"])


@router.get("/editor", response_class=HTMLResponse, summary="Draw and edit grid boundaries")
def editor_page(
    session: SessionDep,
    settings: SettingsDep,
    district: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    proposal: Annotated[int | None, Query(ge=1, description="A proposal to load.")] = None,
) -> HTMLResponse:
    return HTMLResponse(
        editor_html(
            session, district_adcode=district or settings.district_adcode, proposal=proposal
        )
    )


@router.get("/editor/parents", summary="Grids that can take children (level 1 and 2)")
def editor_parents(
    session: SessionDep,
    settings: SettingsDep,
    district: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    q: Annotated[str | None, Query(max_length=50, description="Code prefix or name part.")] = None,
) -> JSONResponse:
    options = parent_options(session, district_adcode=district or settings.district_adcode, q=q)
    return JSONResponse({"parents": options})


@router.get("/editor/{name}", include_in_schema=False)
def editor_asset(name: str) -> Response:
    found = static_file(name)
    if found is None:
        raise HTTPException(404, f"The editor has no file {name!r}.")
    content, media_type = found
    return Response(content, media_type=media_type, headers={"Cache-Control": "no-cache"})
