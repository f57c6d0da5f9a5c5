"""Routes for analysis."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["analysis"])
