"""HTML pages (the landing map)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["pages"])
