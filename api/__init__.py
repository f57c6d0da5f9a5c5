"""The HTTP layer: translates requests into calls into :mod:`geogrid` and results into responses."""
