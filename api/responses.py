"""What a route answers, said where the OpenAPI schema reads it.

A route that builds its own ``Response`` is documented by FastAPI as ``application/json``
unless told otherwise; these are the ways to tell it: ``response_class=GeoJSONResponse`` for
a route that answers GeoJSON, ``responses=answers_in(...)`` for one whose media type depends
on a parameter (``format=``, ``.{fmt}``). The schema fuzz test (tests/test_schema_fuzz.py)
fails on an answer in a media type the route does not document.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi.responses import JSONResponse

__all__ = ["GEOJSON", "GeoJSONResponse", "answers_in"]

GEOJSON: Final = "application/geo+json"


class GeoJSONResponse(JSONResponse):
    """A JSON body served (and documented) as ``application/geo+json``."""

    media_type = GEOJSON


def answers_in(*media_types: str, status: int = 200) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route whose success is in one of ``media_types``.

    >>> answers_in("application/json", "text/xml")
    {200: {'content': {'application/json': {}, 'text/xml': {}}}}
    """
    return {status: {"content": {media_type: {} for media_type in media_types}}}
