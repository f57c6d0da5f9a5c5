"""Routes for proposed grids (智能划网): propose, read, move a vertex, apply, discard.

Thin: each route parses the request and calls :mod:`geogrid.grids.proposals`.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Body, Header, Path, Query
from fastapi.responses import JSONResponse

from api.deps import SessionDep
from api.responses import GeoJSONResponse
from geogrid.errors import InvalidInputError
from geogrid.grids import proposals
from geogrid.grids import repository as repo

router = APIRouter(tags=["proposals"], default_response_class=GeoJSONResponse)

Actor = Annotated[str, Header(alias="X-Actor", description="Who acts (percent-encoded).")]
ProposalId = Annotated[int, Path(description="The proposal's id.")]


def _out(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return GeoJSONResponse(body, status_code=status)


@router.post("/grids/{code}/proposals", status_code=201, summary="Propose balanced child grids")
def propose(
    session: SessionDep,
    code: Annotated[str, Path(description="A level-1 or level-2 general grid.")],
    target_households: Annotated[int | None, Query(gt=0)] = None,
    k: Annotated[int | None, Query(ge=1, le=500)] = None,
    actor: Actor = "anonymous",
) -> JSONResponse:
    made = proposals.propose(
        session,
        code,
        actor=unquote(actor),
        now=repo.now(session),
        target_households=target_households,
        k=k,
    )
    return _out(made, 201)


@router.get("/proposals/{proposal_id}", summary="A proposal with its figures")
def get_proposal(session: SessionDep, proposal_id: ProposalId) -> JSONResponse:
    return _out(proposals.get_proposal(session, proposal_id))


@router.patch("/proposals/{proposal_id}/features/{index}", summary="Move a vertex of a draft")
def move_feature(
    session: SessionDep,
    proposal_id: ProposalId,
    index: Annotated[int, Path(ge=0)],
    body: Annotated[dict[str, Any], Body(description="A GeoJSON Polygon or a Feature of one.")],
    actor: Actor = "anonymous",
) -> JSONResponse:
    geometry = body.get("geometry", body)
    if not isinstance(geometry, dict):
        raise InvalidInputError("Send a GeoJSON Polygon or a Feature of one.", rule="geometry")
    return _out(proposals.move_feature(session, proposal_id, index, geometry, actor=unquote(actor)))


@router.post("/proposals/{proposal_id}/apply", summary="Apply a draft as one boundary change")
def apply_proposal(
    session: SessionDep, proposal_id: ProposalId, actor: Actor = "anonymous"
) -> JSONResponse:
    return _out(proposals.apply_proposal(session, proposal_id, actor=unquote(actor)))


@router.post("/proposals/{proposal_id}/discard", summary="Discard a draft")
def discard_proposal(
    session: SessionDep, proposal_id: ProposalId, actor: Actor = "anonymous"
) -> JSONResponse:
    return _out(
        proposals.discard_proposal(
            session, proposal_id, actor=unquote(actor), now=repo.now(session)
        )
    )
