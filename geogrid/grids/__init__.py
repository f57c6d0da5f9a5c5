"""Grids: codes, hierarchy, versions and boundary edits."""
