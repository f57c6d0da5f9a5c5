"""The five-step workflow walked through the API: every state, rejection, duplicate, dispatch to
a department, an unsatisfied rating that reopens, escalation by hand and by deadline (test
clock), optimistic concurrency; every illegal transition answers 409 with the allowed ones."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from geogrid.issues.calendar import load_calendar
from geogrid.issues.transitions import escalate_overdue
from geogrid.issues.workflow import TRANSITIONS
from tests.test_issues_routing import IssuesApi, issues_api, leaf_grid, report

__all__ = ["issues_api"]

STATES = list(TRANSITIONS)


def move(api: IssuesApi, issue_id: int, to: str, **fields: Any) -> Any:
    return api.client.post(
        f"/issues/{issue_id}/transitions", json={"to": to, **fields}, headers={"X-Actor": "w1"}
    )


def assert_illegal_refused(api: IssuesApi, issue_id: int, status: str) -> None:
    """Every state the table does not allow from ``status`` is refused with 409."""
    for target in STATES:
        if target in TRANSITIONS[status]:
            continue
        answer = move(
            api,
            issue_id,
            target,
            note="x",
            decision="x",
            resolution="x",
            rating="satisfied",
            duplicate_of=1,
        )
        assert answer.status_code == 409, (status, target, answer.text)
        assert answer.json()["allowed"] == list(TRANSITIONS[status])
        assert answer.headers["content-type"].startswith("application/problem+json")


def new_issue(api: IssuesApi, offset: int = 0, **fields: Any) -> dict[str, Any]:
    grid = leaf_grid(api.db, offset)
    answer = report(api.client, lon=grid["lon"], lat=grid["lat"], **fields)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_full_walk_with_dispatch_unsatisfied_reopen_and_close(issues_api: IssuesApi) -> None:
    api = issues_api
    issue = new_issue(api, 10)
    iid = issue["id"]
    department = api.db.execute(text("SELECT code FROM departments ORDER BY id LIMIT 1")).scalar()

    steps: list[tuple[str, dict[str, Any]]] = [
        ("accepted", {"note": "立案"}),
        ("discussing", {}),
        ("decided", {"decision": "联系环卫所当日清运"}),
        ("in_progress", {"department": department}),
        ("resolved", {"resolution": "已清运"}),
        ("verified", {"note": "现场核查属实"}),
        ("evaluated", {"rating": "unsatisfied", "note": "还有残留"}),
        ("resolved", {"resolution": "二次清运并消杀"}),
        ("verified", {}),
        ("evaluated", {"rating": "satisfied"}),
        ("closed", {}),
    ]
    status = "reported"
    assert_illegal_refused(api, iid, status)
    for target, fields in steps:
        answer = move(api, iid, target, **fields)
        assert answer.status_code == 200, (target, answer.text)
        body = answer.json()
        status = body["status"]
        if fields.get("rating") == "unsatisfied":
            assert status == "in_progress" and body["rating"] == "unsatisfied"
        else:
            assert status == target
        assert_illegal_refused(api, iid, status)

    body = api.client.get(f"/issues/{iid}").json()
    assert body["department"]["code"] == department
    assert body["handling_level"] == "department"
    assert body["decision"] == "联系环卫所当日清运"
    assert body["rating"] == "satisfied" and body["closed_at"] and body["deadline_at"]
    kinds = [e["kind"] for e in body["timeline"]]
    assert kinds.count("dispatched") == 1 and kinds.count("reopened") == 1
    transitions = [
        (e["from_status"], e["to_status"]) for e in body["timeline"] if e["kind"] == "transition"
    ]
    assert len(transitions) == len(steps)
    assert all(e["actor"] for e in body["timeline"])


def test_small_matter_goes_from_accepted_straight_to_work(issues_api: IssuesApi) -> None:
    iid = new_issue(issues_api, 11)["id"]
    assert move(issues_api, iid, "accepted").status_code == 200
    answer = move(issues_api, iid, "in_progress", note="小事不出网格")
    assert answer.status_code == 200 and answer.json()["status"] == "in_progress"


def test_rejection_needs_a_reason_and_is_final(issues_api: IssuesApi) -> None:
    iid = new_issue(issues_api, 12)["id"]
    assert move(issues_api, iid, "rejected").status_code == 422
    answer = move(issues_api, iid, "rejected", note="不属于受理范围")
    assert answer.status_code == 200 and answer.json()["status"] == "rejected"
    assert answer.json()["allowed_transitions"] == []
    assert_illegal_refused(issues_api, iid, "rejected")


def test_duplicate_keeps_every_reporter(issues_api: IssuesApi) -> None:
    kept = new_issue(issues_api, 13, reporter_phone="13900001111")
    dup = new_issue(issues_api, 13, reporter_phone="13722223333")
    assert kept["id"] in [d["id"] for d in dup["possible_duplicates"]]
    assert move(issues_api, dup["id"], "duplicate").status_code == 422  # duplicate_of missing
    answer = move(issues_api, dup["id"], "duplicate", duplicate_of=kept["id"], note="同一处")
    assert answer.status_code == 200 and answer.json()["duplicate_of"] == kept["id"]
    phones = [
        r["phone"] for r in issues_api.client.get(f"/issues/{kept['id']}").json()["reporters"]
    ]
    # the admin is an officer above every grid: reporters in full (others see masks)
    assert sorted(phones) == ["13722223333", "13900001111"]
    assert_illegal_refused(issues_api, dup["id"], "duplicate")
    # a duplicate of a duplicate is refused
    third = new_issue(issues_api, 13)
    assert move(issues_api, third["id"], "duplicate", duplicate_of=dup["id"]).status_code == 409


def test_escalation_by_deadline_then_by_hand(issues_api: IssuesApi) -> None:
    api = issues_api
    issue = new_issue(api, 14, category="1101")  # 邻里纠纷: grid level, 72 h
    iid = issue["id"]
    assert issue["handling_level"] == "grid"
    accepted = move(api, iid, "accepted").json()
    deadline = datetime.fromisoformat(accepted["deadline_at"])
    calendar = load_calendar(api.db, accepted["district_adcode"])  # 72 *working* hours
    assert deadline == calendar.add_working_hours(
        datetime.fromisoformat(accepted["accepted_at"]), 72
    )

    before = escalate_overdue(api.db, deadline - timedelta(minutes=1))
    assert iid not in before
    clock = deadline + timedelta(minutes=1)
    assert iid in escalate_overdue(api.db, clock)
    api.db.expire_all()
    level = api.db.execute(text("SELECT handling_level FROM issues WHERE id = :i"), {"i": iid})
    assert level.scalar_one() == "community"
    # the community's clock starts at the escalation: a fresh deadline, 72 working hours on
    community = api.client.get(f"/issues/{iid}").json()
    community_deadline = datetime.fromisoformat(community["deadline_at"])
    assert community_deadline == calendar.add_working_hours(clock, 72)
    assert iid not in escalate_overdue(api.db, community_deadline - timedelta(minutes=1))
    assert iid in escalate_overdue(api.db, community_deadline + timedelta(minutes=1))
    body = api.client.get(f"/issues/{iid}").json()
    assert body["handling_level"] == "street"
    reasons = [e["data"]["reason"] for e in body["timeline"] if e["kind"] == "escalated"]
    assert reasons == ["deadline", "deadline"]

    by_hand = api.client.post(f"/issues/{iid}/escalate", json={"note": "街道协调不了"})
    assert by_hand.status_code == 200 and by_hand.json()["handling_level"] == "district"
    assert api.client.post(f"/issues/{iid}/escalate").status_code == 409
    # a finished issue is not escalated
    done = new_issue(api, 15)
    move(api, done["id"], "rejected", note="重复来电")
    assert api.client.post(f"/issues/{done['id']}/escalate").status_code == 409


def test_stale_version_is_refused(issues_api: IssuesApi) -> None:
    issue = new_issue(issues_api, 16)
    iid, version = issue["id"], issue["row_version"]
    first = issues_api.client.post(
        f"/issues/{iid}/transitions",
        json={"to": "accepted"},
        headers={"If-Match": f'"{iid}-v{version}"'},
    )
    assert first.status_code == 200 and first.headers["ETag"] == f'"{iid}-v{version + 1}"'
    stale = issues_api.client.post(
        f"/issues/{iid}/transitions",
        json={"to": "rejected", "note": "x"},
        headers={"If-Match": f'"{iid}-v{version}"'},
    )
    assert stale.status_code == 412
    assert stale.json()["etag"] == f'"{iid}-v{version + 1}"'
    # a tag of another issue (or the old bare row_version) names no version of this one
    other = issues_api.client.post(
        f"/issues/{iid}/transitions",
        json={"to": "rejected", "note": "x"},
        headers={"If-Match": f'"{version + 1}"'},
    )
    assert other.status_code == 412 and other.json()["etag"] == f'"{iid}-v{version + 1}"'


def test_two_concurrent_transitions_do_not_both_apply(issues_api: IssuesApi) -> None:
    """The second writer saw the same version: its conditional UPDATE touches no row."""
    from geogrid.errors import ConflictError
    from geogrid.issues.transitions import TransitionRequest, _apply

    issue = new_issue(issues_api, 17)
    now = datetime.fromisoformat(issue["reported_at"])
    seen = issue["row_version"]
    _apply(issues_api.db, issue["id"], seen, now, {"status": "accepted"})
    try:
        _apply(issues_api.db, issue["id"], seen, now, {"status": "rejected"})
    except ConflictError:
        pass
    else:
        raise AssertionError("the second update with the same version applied")
    assert TransitionRequest(to="x").to == "x"


def test_unknown_issue_is_404(issues_api: IssuesApi) -> None:
    assert issues_api.client.get("/issues/999999999").status_code == 404
    assert move(issues_api, 999999999, "accepted").status_code == 404


def test_reopened_work_gets_a_fresh_deadline(issues_api: IssuesApi) -> None:
    api = issues_api
    issue = new_issue(api, 12)
    iid = issue["id"]
    for target, fields in [
        ("accepted", {}),
        ("in_progress", {}),
        ("resolved", {"resolution": "已处理"}),
        ("verified", {}),
    ]:
        assert move(api, iid, target, **fields).status_code == 200
    # pretend the first deadline is long gone, then the resident is unsatisfied (gone on the
    # app's clock, which stamped the report: the database server's clock may differ from it)
    reported_at = datetime.fromisoformat(issue["reported_at"])
    api.db.execute(
        text("UPDATE issues SET deadline_at = :gone WHERE id = :id"),
        {"id": iid, "gone": reported_at - timedelta(days=30)},
    )
    api.db.flush()
    reopened = move(api, iid, "evaluated", rating="unsatisfied")
    assert reopened.status_code == 200, reopened.text
    body = reopened.json()
    assert body["status"] == "in_progress"
    reopened_at = max(datetime.fromisoformat(e["at"]) for e in body["timeline"])
    assert datetime.fromisoformat(body["deadline_at"]) > reopened_at
    assert body["overdue"] is False
