"""Grids: codes, hierarchy, versions and boundary edits.

``codes`` (grid codes), ``validation`` (one set of boundary rules for the API, the importer and
the CLI; pure shapely/pyproj), ``geojson`` (Feature ⇄ rows), ``repository`` (reads and writes,
keyword-only, session first, ``reach`` filter), ``edits`` (create, edit, retire, restore, split,
merge, gaps; If-Match preconditions), ``followups`` (what follows a boundary change: issue
re-tags, ended assignments), ``io``/``io_formats`` (import/export), ``ogc`` (OGC API queries).
"""
