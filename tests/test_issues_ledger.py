"""The ledger (filters, paging, CSV/XLSX with Chinese headers), the indicators checked against
an independent SQL computation on the demo, the deliberation-day agenda, categories and
departments, and the all-or-nothing import."""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from geogrid.errors import InvalidInputError
from geogrid.issues.importer import import_rows, read_rows
from tests.test_issues_routing import IssuesApi, issues_api, leaf_grid, report

__all__ = ["issues_api"]


def busiest_level1(api: IssuesApi) -> str:
    return api.db.execute(
        text(
            "SELECT left(g.code, 12) FROM issues i JOIN grids g ON g.id = i.grid_id "
            "WHERE i.status IN ('accepted','in_progress') GROUP BY 1 ORDER BY count(*) DESC, 1 "
            "LIMIT 1"
        )
    ).scalar_one()


def test_ledger_filters_pages_and_sorts_by_grid_code(issues_api: IssuesApi) -> None:
    prefix = busiest_level1(issues_api)
    page = issues_api.client.get(
        "/issues", params={"grid": prefix, "category": "12", "limit": 50}
    ).json()
    expected = issues_api.db.execute(
        text(
            "SELECT count(*) FROM issues i JOIN grids g ON g.id = i.grid_id "
            "JOIN issue_categories c ON c.id = i.category_id "
            "WHERE g.code LIKE :p AND c.code LIKE '12%'"
        ),
        {"p": prefix + "%"},
    ).scalar_one()
    assert page["total"] == expected > 0
    codes = [item["grid_code"] for item in page["items"]]
    assert codes == sorted(codes) and all(c.startswith(prefix) for c in codes)
    assert all(item["category_code"].startswith("12") for item in page["items"])
    second = issues_api.client.get(
        "/issues", params={"grid": prefix, "category": "12", "limit": 50, "offset": 50}
    ).json()
    assert not {i["id"] for i in page["items"]} & {i["id"] for i in second["items"]}
    overdue = issues_api.client.get("/issues", params={"overdue": "true", "limit": 20}).json()
    assert overdue["total"] > 0 and all(i["overdue"] for i in overdue["items"])


def test_export_csv_and_xlsx_have_chinese_headers(issues_api: IssuesApi) -> None:
    prefix = busiest_level1(issues_api)
    answer = issues_api.client.get("/issues/export", params={"grid": prefix, "format": "csv"})
    assert answer.status_code == 200
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    header = rows[0]
    for label in (
        "编号",
        "类别",
        "描述",
        "网格编码",
        "网格名称",
        "状态",
        "上报时间",
        "期限",
        "结案时间",
        "满意度",
    ):
        assert label in header
    codes = [r[header.index("网格编码")] for r in rows[1:]]
    assert codes == sorted(codes) and len(codes) > 0
    xlsx = issues_api.client.get("/issues/export", params={"grid": prefix, "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    assert [c.value for c in sheet[1]][:3] == ["编号", "类别编码", "类别"]
    assert sheet.max_row == len(rows)


INDEPENDENT_SQL = """
SELECT substring(g.code from 1 for 9) AS street,
       sum(1) AS filed,
       sum(CASE WHEN i.status = 'closed' AND i.closed_at < :t THEN 1 ELSE 0 END) AS closed,
       sum(CASE WHEN (i.status = 'closed' AND i.closed_at < :t) OR i.deadline_at < :t
                THEN 1 ELSE 0 END) AS due,
       sum(CASE WHEN i.status = 'closed' AND i.closed_at < :t AND i.closed_at <= i.deadline_at
                THEN 1 ELSE 0 END) AS on_time,
       sum(CASE WHEN i.status = 'closed' AND i.closed_at < :t
                 AND i.rating IN ('satisfied', 'basically_satisfied') THEN 1 ELSE 0 END) AS good,
       sum(CASE WHEN i.status = 'closed' AND i.closed_at < :t AND i.rating IS NOT NULL
                THEN 1 ELSE 0 END) AS rated
FROM issues i, grids g
WHERE g.id = i.grid_id AND i.accepted_at >= :f AND i.accepted_at < :t
GROUP BY 1 ORDER BY 1
"""


def test_indicators_match_a_direct_sql_computation(
    issues_api: IssuesApi, demo_clock: datetime
) -> None:
    to = demo_clock.replace(microsecond=0)
    start = to - timedelta(days=120)
    answer = issues_api.client.get(
        "/analysis/indicators",
        params={"from": start.isoformat(), "to": to.isoformat(), "by": "street"},
    )
    assert answer.status_code == 200, answer.text
    units = {u["unit_code"]: u for u in answer.json()["units"] if u["unit_code"]}
    expected = issues_api.db.execute(text(INDEPENDENT_SQL), {"f": start, "t": to}).mappings().all()
    assert len(expected) == 10 == len(units)
    for row in expected:
        unit = units[row["street"]]
        assert unit["unit_name"]
        for key in ("filed", "closed", "due", "on_time"):
            assert unit[key] == row[key], (row["street"], key)
        assert math.isclose(unit["closure_rate"], row["closed"] / row["filed"], abs_tol=1e-4)
        assert math.isclose(unit["on_time_rate"], row["on_time"] / row["due"], abs_tol=1e-4)
        assert math.isclose(unit["satisfaction_rate"], row["good"] / row["rated"], abs_tol=1e-4)
    # the median of one street, computed in Python from the raw durations
    street = expected[0]["street"]
    hours = sorted(
        (c - r).total_seconds() / 3600
        for r, c in issues_api.db.execute(
            text(
                "SELECT i.reported_at, i.closed_at FROM issues i JOIN grids g ON g.id = i.grid_id "
                "WHERE g.code LIKE :p AND i.accepted_at >= :f AND i.accepted_at < :t "
                "AND i.status = 'closed' AND i.closed_at < :t"
            ),
            {"p": street + "%", "f": start, "t": to},
        ).all()
    )
    n = len(hours)
    median = hours[n // 2] if n % 2 else (hours[n // 2 - 1] + hours[n // 2]) / 2
    assert math.isclose(units[street]["median_hours_to_close"], median, abs_tol=0.01)
    by_grid = issues_api.client.get(
        "/analysis/indicators", params={"by": "level1", "grid": street}
    ).json()
    assert all(u["unit_code"].startswith(street) for u in by_grid["units"])


def test_agenda_json_html_and_decisions(issues_api: IssuesApi) -> None:
    grid = leaf_grid(issues_api.db, 20)
    created = report(issues_api.client, lon=grid["lon"], lat=grid["lat"]).json()
    issues_api.client.post(f"/issues/{created['id']}/transitions", json={"to": "accepted"})
    level1 = grid["code"][:12]
    # a month whose deliberation day is still ahead of the new issue, whatever today's date
    reported_at = datetime.fromisoformat(created["reported_at"])
    month = (reported_at + timedelta(days=40)).strftime("%Y-%m")
    data = issues_api.client.get(f"/grids/{level1}/agenda", params={"month": month}).json()
    assert data["meeting_date"].endswith("-05")
    ids = [i["id"] for g in data["groups"] for i in g["issues"]]
    assert created["id"] in ids and data["total"] == len(ids)
    assert all(i["grid_code"].startswith(level1) for g in data["groups"] for i in g["issues"])
    assert all(
        i["status"] in ("reported", "accepted", "discussing", "decided", "in_progress")
        for g in data["groups"]
        for i in g["issues"]
    )
    page = issues_api.client.get(
        f"/grids/{level1}/agenda", params={"month": month, "format": "html"}
    )
    assert page.status_code == 200 and "议事日" in page.text and "@media print" in page.text
    decided = issues_api.client.post(
        f"/grids/{level1}/agenda/decisions",
        json={"decisions": [{"issue_id": created["id"], "decision": "本周内清运"}]},
    )
    assert decided.status_code == 200, decided.text
    body = issues_api.client.get(f"/issues/{created['id']}").json()
    assert body["status"] == "decided" and body["decision"] == "本周内清运"
    assert (
        issues_api.client.get(f"/grids/{level1}/agenda", params={"month": "2026-13"}).status_code
        == 422
    )


def test_categories_and_departments_are_editable(issues_api: IssuesApi) -> None:
    client = issues_api.client
    assert (
        client.post("/departments", json={"code": "t_water", "name": "测试水务"}).status_code == 201
    )
    assert client.post("/departments", json={"code": "t_water", "name": "x"}).status_code == 409
    assert client.patch("/departments/t_water", json={"phone": "0913-1234567"}).json()["phone"]
    made = client.post(
        "/categories",
        json={"code": "9901", "name": "测试类", "deadline_hours": 12, "department_code": "t_water"},
    )
    assert made.status_code == 201, made.text
    assert client.patch("/categories/9901", json={"deadline_hours": 24}).status_code == 200
    listed = {c["code"]: c for c in client.get("/categories").json()}
    assert listed["9901"]["deadline_hours"] == 24
    assert listed["9901"]["department_code"] == "t_water"
    assert listed["1201"]["parent_code"] == "12"
    grid = leaf_grid(issues_api.db)
    assert report(client, lon=grid["lon"], lat=grid["lat"], category="9901").status_code == 201


def test_import_is_all_or_nothing(
    issues_api: IssuesApi, tmp_path: Path, demo_clock: datetime
) -> None:
    grid = leaf_grid(issues_api.db, 30)
    good = f"1201,路灯下垃圾,{grid['lon']},{grid['lat']}"
    path = tmp_path / "issues.csv"
    path.write_text(f"类别编码,描述,经度,纬度\n{good}\n{good}\n9999,坏行,1,1\n", encoding="utf-8")
    before = issues_api.db.execute(text("SELECT count(*) FROM issues")).scalar_one()
    with pytest.raises(InvalidInputError, match="row 4"), issues_api.db.begin_nested():
        import_rows(issues_api.db, read_rows(path), default_adcode="610503", now=demo_clock)
    assert issues_api.db.execute(text("SELECT count(*) FROM issues")).scalar_one() == before
    path.write_text(f"类别编码,描述,经度,纬度\n{good}\n{good}\n", encoding="utf-8")
    ids = import_rows(issues_api.db, read_rows(path), default_adcode="610503", now=demo_clock)
    assert len(ids) == 2


@pytest.mark.parametrize(
    "args", [["issues"], ["issues", "import"], ["issues", "export"], ["issues", "escalate-overdue"]]
)
def test_issue_commands_answer_help(args: list[str]) -> None:
    from typer.testing import CliRunner

    from geogrid.cli import app

    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
