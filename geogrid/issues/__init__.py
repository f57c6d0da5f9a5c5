"""Issues: geotagged reports routed to the grid and worked through the five-step workflow.

``workflow`` (states and transitions), ``routing`` (tagging and assignment), ``repository``
(create/read/transition), ``duplicates``, ``ledger`` (台账 CSV/XLSX), ``indicators``,
``agenda`` (5号议事日), ``open311`` (GeoReport v2 mapping), ``photos``.
"""
