"""Open311 GeoReport v2: a client that knows only the documented fields can discover the
endpoint, list services, file a request and read it back; errors come as [{code, description}].
The .xml variants answer the same in GeoReport v2 XML; the reporter's e-mail is kept, privately."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

from sqlalchemy import text

from geogrid.auth.privacy import ReporterCipher
from tests.logins import TEST_REPORTER_KEY
from tests.test_issues_routing import IssuesApi, issues_api, leaf_grid

__all__ = ["issues_api"]

BASE = "/open311/v2"


def test_open311_client_flow(issues_api: IssuesApi) -> None:
    client = issues_api.client
    discovery = client.get(f"{BASE}/discovery.json").json()
    endpoint = discovery["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith(BASE)

    services = client.get(f"{BASE}/services.json").json()
    service = next(s for s in services if s["service_code"] == "1201")
    assert {"service_code", "service_name", "metadata", "type", "group"} <= service.keys()
    assert "12" not in {s["service_code"] for s in services}  # classes with subclasses are groups

    grid = leaf_grid(issues_api.db, 40)
    posted = client.post(
        f"{BASE}/requests.json",
        data={
            "service_code": service["service_code"],
            "lat": str(grid["lat"]),
            "long": str(grid["lon"]),
            "description": "小区门口垃圾堆积",
            "first_name": "秀英",
            "last_name": "王",
            "phone": "13800001234",
            "email": "resident@example.org",
            "media_url": "https://example.org/photo.jpg",
        },
    )
    assert posted.status_code == 201, posted.text
    created = posted.json()[0]
    request_id = created["service_request_id"]

    got = client.get(f"{BASE}/requests/{request_id}.json")
    assert got.status_code == 200
    sr = got.json()[0]
    assert sr["service_request_id"] == request_id
    assert sr["status"] == "open" and sr["status_notes"].startswith("reported")
    assert sr["service_code"] == "1201"
    assert abs(sr["lat"] - grid["lat"]) < 1e-9 and abs(sr["long"] - grid["lon"]) < 1e-9
    assert sr["media_url"] == "https://example.org/photo.jpg"
    assert "13800001234" not in got.text

    assert (
        client.get(f"{BASE}/tokens/{created['token']}.json").json()[0]["service_request_id"]
        == request_id
    )
    listed = client.get(f"{BASE}/requests.json", params={"service_request_id": request_id})
    assert [r["service_request_id"] for r in listed.json()] == [request_id]

    # our richer states map to open/closed
    issues_api.client.post(
        f"/issues/{request_id}/transitions", json={"to": "rejected", "note": "非本辖区事项"}
    )
    closed = client.get(f"{BASE}/requests/{request_id}.json").json()[0]
    assert closed["status"] == "closed" and "非本辖区事项" in closed["status_notes"]
    recent = client.get(
        f"{BASE}/requests.json", params={"status": "closed", "service_code": "1201"}
    ).json()
    assert request_id in [r["service_request_id"] for r in recent] and len(recent) <= 1000


def test_open311_errors_and_limits(issues_api: IssuesApi, demo_clock: datetime) -> None:
    client = issues_api.client
    missing = client.get(f"{BASE}/requests/999999999.json")
    assert missing.status_code == 404
    assert missing.json()[0]["code"] == 404 and missing.json()[0]["description"]
    unknown = client.post(
        f"{BASE}/requests.json", data={"service_code": "nope", "lat": "34.5", "long": "109.7"}
    )
    assert unknown.status_code == 404 and unknown.json()[0]["code"] == 404
    nowhere = client.post(f"{BASE}/requests.json", data={"service_code": "1201"})
    assert nowhere.status_code == 400
    end = demo_clock
    too_long = client.get(
        f"{BASE}/requests.json",
        params={"start_date": (end - timedelta(days=91)).isoformat(), "end_date": end.isoformat()},
    )
    assert too_long.status_code == 400 and "90" in too_long.json()[0]["description"]
    many = client.get(f"{BASE}/requests.json").json()
    assert len(many) == 1000  # the demo has more than 1 000 requests in 90 days


def test_category_attributes_are_service_definitions(issues_api: IssuesApi) -> None:
    client = issues_api.client
    made = client.post(
        "/categories",
        json={
            "code": "9902",
            "name": "井盖缺失",
            "attributes": [
                {
                    "code": "depth",
                    "datatype": "singlevaluelist",
                    "required": True,
                    "description": "危险程度",
                    "values": [{"key": "high", "name": "高"}],
                }
            ],
        },
    )
    assert made.status_code == 201, made.text
    definition = client.get(f"{BASE}/services/9902.json").json()
    assert definition["attributes"][0]["code"] == "depth"
    assert definition["attributes"][0]["required"] is True
    grid = leaf_grid(issues_api.db, 41)
    form = {
        "service_code": "9902",
        "lat": str(grid["lat"]),
        "long": str(grid["lon"]),
        "description": "井盖丢了",
    }
    assert client.post(f"{BASE}/requests.json", data=form).status_code == 400
    ok = client.post(f"{BASE}/requests.json", data={**form, "attribute[depth]": "high"})
    assert ok.status_code == 201, ok.text
    assert client.get(f"{BASE}/services/0000.json").status_code == 404


def test_open311_email_is_kept_privately(issues_api: IssuesApi) -> None:
    client = issues_api.client
    grid = leaf_grid(issues_api.db, 42)
    form = {"service_code": "1201", "lat": str(grid["lat"]), "long": str(grid["lon"])}
    posted = client.post(f"{BASE}/requests.json", data={**form, "email": "resident@example.org"})
    assert posted.status_code == 201, posted.text
    request_id = posted.json()[0]["service_request_id"]
    stored = issues_api.db.execute(
        text("SELECT email FROM issue_reporters WHERE issue_id = :i"), {"i": int(request_id)}
    ).scalar_one()
    # encrypted at rest, readable with the key
    assert stored != "resident@example.org"
    assert ReporterCipher((TEST_REPORTER_KEY,)).decrypt(stored) == "resident@example.org"
    assert "resident@example.org" not in client.get(f"{BASE}/requests/{request_id}.json").text
    # the staff view shows it in full only to officers above the grid (the test admin is one)
    assert "resident@example.org" in client.get(f"/issues/{request_id}").text
    bad = client.post(f"{BASE}/requests.json", data={**form, "email": "not an address"})
    assert bad.status_code == 400 and "email" in bad.json()[0]["description"]


def _xml(answer: Any) -> ET.Element:
    assert answer.headers["content-type"].startswith("text/xml"), answer.headers
    return ET.fromstring(answer.content)


def test_open311_xml_variants(issues_api: IssuesApi) -> None:
    client = issues_api.client
    discovery = _xml(client.get(f"{BASE}/discovery.xml"))
    assert discovery.tag == "discovery"
    endpoint = discovery.find("endpoints/endpoint")
    assert endpoint is not None and endpoint.findtext("url", "").endswith(BASE)
    assert [f.text for f in endpoint.findall("formats/format")] == ["text/xml", "application/json"]

    services = _xml(client.get(f"{BASE}/services.xml"))
    assert services.tag == "services"
    codes = [s.findtext("service_code") for s in services.findall("service")]
    assert codes == [s["service_code"] for s in client.get(f"{BASE}/services.json").json()]
    assert services.find("service/metadata").text in ("true", "false")  # type: ignore[union-attr]

    made = client.post(
        "/categories",
        json={
            "code": "9921",
            "name": "路灯不亮",
            "attributes": [
                {
                    "code": "pole",
                    "datatype": "singlevaluelist",
                    "required": True,
                    "description": "灯杆",
                    "values": [{"key": "p1", "name": "一号杆"}],
                }
            ],
        },
    )
    assert made.status_code == 201, made.text
    definition = _xml(client.get(f"{BASE}/services/9921.xml"))
    assert definition.tag == "service_definition"
    attribute = definition.find("attributes/attribute")
    assert attribute is not None and attribute.findtext("code") == "pole"
    assert attribute.findtext("required") == "true"
    assert attribute.findtext("values/value/name") == "一号杆"

    grid = leaf_grid(issues_api.db, 43)
    posted = client.post(
        f"{BASE}/requests.xml",
        data={
            "service_code": "9921",
            "lat": str(grid["lat"]),
            "long": str(grid["lon"]),
            "description": "路灯不亮",
            "attribute[pole]": "p1",
        },
    )
    assert posted.status_code == 201, posted.text
    created = _xml(posted)
    assert created.tag == "service_requests"
    request_id = created.findtext("request/service_request_id")
    token = created.findtext("request/token")
    assert request_id and token

    one = _xml(client.get(f"{BASE}/requests/{request_id}.xml"))
    request = one.find("request")
    assert request is not None and request.findtext("status") == "open"
    assert request.findtext("service_code") == "9921"
    assert abs(float(request.findtext("lat", "nan")) - grid["lat"]) < 1e-9
    assert request.findtext("zipcode") == ""  # None is an empty element
    listed = _xml(client.get(f"{BASE}/requests.xml", params={"service_request_id": request_id}))
    assert [r.findtext("service_request_id") for r in listed.findall("request")] == [request_id]
    by_token = _xml(client.get(f"{BASE}/tokens/{token}.xml"))
    assert by_token.findtext("request/service_request_id") == request_id

    missing = client.get(f"{BASE}/requests/999999999.xml")
    assert missing.status_code == 404
    error = _xml(missing)
    assert error.tag == "errors" and error.findtext("error/code") == "404"
    assert client.get(f"{BASE}/services.yaml").status_code == 404
