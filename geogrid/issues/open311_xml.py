"""Open311 GeoReport v2 answers as XML (the ``.xml`` variants), built with ``xml.etree``.

The JSON shapes of :mod:`geogrid.issues.open311` map one to one onto the spec's XML: a list is a
wrapper element with one child per item (``<services><service>…``, ``<attributes><attribute>``,
``<values><value>``), a dict is one child element per key, ``None`` is an empty element and a
boolean is ``true``/``false``.

>>> print(render_xml("errors", [{"code": 404, "description": "not found"}]).decode())
<?xml version='1.0' encoding='utf-8'?>
<errors><error><code>404</code><description>not found</description></error></errors>
"""

from __future__ import annotations

from typing import Any, Final
from xml.etree import ElementTree as ET

__all__ = ["DOCUMENTS", "render_xml"]

#: document kind → (root element, element of each item; None when the root is one object)
DOCUMENTS: Final[dict[str, tuple[str, str | None]]] = {
    "discovery": ("discovery", None),
    "services": ("services", "service"),
    "service_definition": ("service_definition", None),
    "requests": ("service_requests", "request"),
    "errors": ("errors", "error"),
}
#: list-valued fields → the element of one of their items
_ITEMS: Final[dict[str, str]] = {
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, child_value in value.items():
            _fill(ET.SubElement(element, str(key)), child_value)
    elif isinstance(value, list):
        item_tag = _ITEMS.get(element.tag, "item")
        for item in value:
            _fill(ET.SubElement(element, item_tag), item)
    else:
        element.text = _text(value)


def render_xml(kind: str, payload: Any) -> bytes:
    """The UTF-8 XML document of ``kind`` (a key of :data:`DOCUMENTS`) for a JSON-ready
    payload (dicts, lists, strings, numbers, booleans, None)."""
    root_tag, item_tag = DOCUMENTS[kind]
    root = ET.Element(root_tag)
    if item_tag is None:
        _fill(root, payload)
    else:
        for item in payload:
            _fill(ET.SubElement(root, item_tag), item)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
