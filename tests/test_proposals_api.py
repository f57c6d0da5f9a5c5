"""The proposal routes: propose, read, discard; and the problem+json of a bad request."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_propose_read_and_discard_over_http(client: TestClient) -> None:
    made = client.post("/grids/610503001008/proposals?k=4", headers={"X-Actor": "office"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["status"] == "draft" and body["parameters"]["k"] == 4
    assert {"households", "workers_needed", "polsby_popper", "kept_code"} <= set(
        body["features"][0]["properties"]
    )
    read = client.get(f"/proposals/{body['id']}")
    assert read.json()["figures"] == body["figures"]
    gone = client.post(f"/proposals/{body['id']}/discard", headers={"X-Actor": "office"})
    assert gone.json()["status"] == "discarded"
    again = client.post(f"/proposals/{body['id']}/apply", headers={"X-Actor": "office"})
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert "discarded" in again.json()["detail"]


def test_a_level_three_grid_or_a_missing_proposal_is_refused(client: TestClient) -> None:
    missing = client.get("/proposals/999999")
    assert missing.status_code == 404
    assert "999999" in missing.json()["detail"]
