"""Idempotency-Key: the same key with the same report returns the first issue; the same key
with a different report is refused (422 problem+json), as the IETF Idempotency-Key draft and
Stripe do, and creates nothing."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from geogrid.issues.intake import NewIssue, report_fingerprint
from tests.test_issues_routing import IssuesApi, issues_api, leaf_grid

__all__ = ["issues_api"]


def test_same_key_different_report_is_refused(issues_api: IssuesApi) -> None:
    client = issues_api.client
    grid = leaf_grid(issues_api.db, 31)
    key = f"test-{uuid.uuid4()}"
    body = {"category": "1201", "description": "垃圾未清运", "lon": grid["lon"], "lat": grid["lat"]}
    first = client.post("/issues", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text

    # defaults spelled out are the same report
    same = client.post(
        "/issues",
        json=body | {"crs": "wgs84", "source": "resident"},
        headers={"Idempotency-Key": key},
    )
    assert same.status_code == 200 and same.json()["id"] == first.json()["id"]
    assert same.headers["Idempotent-Replayed"] == "true"

    for changed in ({"description": "另一件事"}, {"category": "1202"}, {"lon": grid["lon"] + 1e-4}):
        refused = client.post("/issues", json=body | changed, headers={"Idempotency-Key": key})
        assert refused.status_code == 422, (changed, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "Idempotency-Key" in refused.json()["detail"]
        assert refused.json()["idempotency_key"] == key
    count = issues_api.db.execute(
        text("SELECT count(*) FROM issues WHERE idempotency_key = :k"), {"k": key}
    ).scalar_one()
    assert count == 1


def test_fingerprint_ignores_the_key_and_sees_every_field() -> None:
    base = NewIssue(category_code="1201", description="x", lon=109.7, lat=34.5)
    assert report_fingerprint(base) == report_fingerprint(
        NewIssue(category_code="1201", description="x", lon=109.7, lat=34.5, idempotency_key="k")
    )
    assert report_fingerprint(base) != report_fingerprint(
        NewIssue(category_code="1201", description="x", lon=109.7, lat=34.5, reporter_phone="1")
    )
