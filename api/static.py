"""Serving the npm-installed map assets under ``/static`` (filled in with the assets work)."""

from __future__ import annotations

from fastapi import FastAPI

from geogrid.settings import Settings


def mount_static(app: FastAPI, settings: Settings) -> None:
    """Mount the vendored assets; see geogrid.maps.assets."""
