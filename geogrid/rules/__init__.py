"""The domain rules of grid management, each written once.

Every rule here is a small pure function over plain values (with at most one SQL counterpart
next to it), and every other module asks it instead of restating it: who is on duty on a grid
(AB岗), which grid covers a point (deepest level, then smallest code), what is in force at a
time. Caches elsewhere (the live locator, the grid index, the cell raster) are tested equal to
these definitions.
"""
