"""The landing page leads to every page an office user needs, and each of them answers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from geogrid.maps.landing import PAGES


def test_landing_page_links_every_page(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    for href, label in PAGES:
        assert f'href="{href}"' in page.text and label in page.text


@pytest.mark.parametrize("href", [href for href, _ in PAGES])
def test_each_linked_page_answers_html(client: TestClient, href: str) -> None:
    answer = client.get(href)
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/html")
