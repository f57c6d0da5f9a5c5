"""Routes for grids_io."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["grids_io"])
