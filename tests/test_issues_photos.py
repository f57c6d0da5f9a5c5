"""Photos read back: the list of an issue's photos and each stored file served with its content
type; every miss (another issue's photo, a link photo, a file gone from disk, an unknown issue)
is a 404 problem+json."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from tests.test_issues_routing import PNG, IssuesApi, issues_api, leaf_grid, report

__all__ = ["issues_api"]

# the smallest JPEG header our type check accepts is enough: the store keeps bytes as sent
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


def test_list_and_serve_photos(issues_api: IssuesApi, tmp_path: Path) -> None:
    from api.routers.issues import get_photo_store
    from geogrid.issues.photos import PhotoStore

    issues_api.app.dependency_overrides[get_photo_store] = lambda: PhotoStore(tmp_path)
    client = issues_api.client
    grid = leaf_grid(issues_api.db, 30)
    issue_id = report(client, lon=grid["lon"], lat=grid["lat"]).json()["id"]
    other_id = report(client, lon=grid["lon"], lat=grid["lat"]).json()["id"]

    png = client.post(f"/issues/{issue_id}/photos", files={"file": ("a.png", PNG, "image/png")})
    jpeg = client.post(f"/issues/{issue_id}/photos", files={"file": ("b.jpg", JPEG)})
    assert png.status_code == 201 and jpeg.status_code == 201, (png.text, jpeg.text)
    assert png.json()["href"] == f"/issues/{issue_id}/photos/{png.json()['id']}"

    listed = client.get(f"/issues/{issue_id}/photos")
    assert listed.status_code == 200
    photos = listed.json()
    assert [p["content_type"] for p in photos] == ["image/png", "image/jpeg"]
    for photo, content in zip(photos, (PNG, JPEG), strict=True):
        served = client.get(photo["href"])
        assert served.status_code == 200
        assert served.headers["content-type"] == photo["content_type"]
        assert served.content == content
    assert client.get(f"/issues/{other_id}/photos").json() == []
    detail = client.get(f"/issues/{issue_id}").json()["photos"]
    assert [p["href"] for p in detail] == [p["href"] for p in photos]

    def missing(url: str) -> None:
        answer = client.get(url)
        assert answer.status_code == 404, (url, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["detail"]

    png_id = png.json()["id"]
    missing(f"/issues/{other_id}/photos/{png_id}")  # another issue's photo
    missing(f"/issues/{issue_id}/photos/999999999")
    missing("/issues/999999999/photos")
    # a link a client gave (Open311 media_url): we hold no file for it
    link_id = issues_api.db.execute(
        text(
            "INSERT INTO issue_photos (issue_id, url) VALUES (:i, 'https://example.org/p.jpg') "
            "RETURNING id"
        ),
        {"i": issue_id},
    ).scalar_one()
    issues_api.db.flush()
    link = client.get(f"/issues/{issue_id}/photos/{link_id}")
    assert link.status_code == 404 and link.json()["url"] == "https://example.org/p.jpg"
    assert {p["id"]: p["href"] for p in client.get(f"/issues/{issue_id}/photos").json()}[
        link_id
    ] is None
    # the file removed from the photo directory behind our back
    for stored in tmp_path.rglob("*.png"):
        stored.unlink()
    missing(f"/issues/{issue_id}/photos/{png_id}")
