"""Locate (MapIt-style point lookup): which grids cover a point or an address, and who looks after
them.

* :mod:`geogrid.locate.index` — the in-memory index of a district's current grids (shapely 2
  ``STRtree`` over prepared geometries), rebuilt when ``boundary_revisions`` moves;
* :mod:`geogrid.locate.cells` — a raster of cells over the index for bulk lookups of millions of
  points, exact on every cell edge;
* :mod:`geogrid.locate.chain` — the answer for one point: admin areas, the general grid chain,
  the dedicated grids and the signboard; the same answer from SQL for past dates;
* :mod:`geogrid.locate.signboard` — the 网格信息公示牌 of a grid (A/B posts, on duty, party
  organisation);
* :mod:`geogrid.locate.batch` — many points and addresses at once (CSV/NDJSON rows);
* :mod:`geogrid.locate.probe` — one prepared single-row read of a district's boundary and staff
  revisions (migrations 0002 and 0007) on a raw libpq connection;
* :mod:`geogrid.locate.live` — current point lookups from memory (index, staff, rendered
  answers), checked by one probe per lookup: what GET /locate answers with.
"""
