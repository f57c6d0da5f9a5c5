"""Grids: codes, hierarchy, versions and boundary edits.

``codes`` (grid codes), ``validation`` (one set of boundary rules for the API, the importer and
the CLI; pure shapely/pyproj), ``geojson`` (Feature ⇄ rows), ``repository`` (reads and writes,
keyword-only, session first, ``reach`` filter), ``edits`` (create, edit, retire, restore, split,
merge, gaps; If-Match preconditions).
"""
