"""Who is on duty (AB岗): the pure rule over every case, and issue 9's acceptance — for every
grid of the demo, in six staff states, the signboard, ``/locate``, a new report's assignee and
the gaps map name the same person (or the same nobody, with the same reason).

The demo shares workers between grids (a grid's B is often another grid's A), so marking one
worker away would put two grids in different states. Each test therefore first gives every
current A/B post its own copy of its holder (inside the rolled-back transaction), so that a
state set "on every A post" is exactly that state on every grid.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.deps import get_session
from geogrid.analysis.gaps import post_gaps
from geogrid.analysis.signboards import grid_signboards
from geogrid.issues.routing import on_duty_post
from geogrid.locate.signboard import build_signboard, fetch_district_signboard_data
from geogrid.locate.types import GridRef
from geogrid.rules.on_duty import REASONS, PostHolder, answer_changes_at, on_duty, post_state

HUAZHOU = "610503"
NOW = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
# Far enough either side of any clock the HTTP app may read, so the states mean the same to
# the library (given NOW) and to the app (its own clock).
FUTURE = datetime(2100, 1, 1, tzinfo=UTC)
PAST = datetime(2000, 1, 1, tzinfo=UTC)
POST_GAPS = {"no_a_post", "no_b_post", "a_away_no_b"}

# ---------------------------------------------------------------------------------------------
# The pure rule

A = PostHolder(1, "张三", "on_duty")
B = PostHolder(2, "李四", "on_duty")


def _away(h: PostHolder, until: datetime | None = None) -> PostHolder:
    return PostHolder(h.staff_id, h.name, "away", until, h.active)


def _inactive(h: PostHolder) -> PostHolder:
    return PostHolder(h.staff_id, h.name, h.availability, h.away_until, active=False)


SOON = NOW + timedelta(hours=3)
BEFORE = NOW - timedelta(hours=3)

RULE_CASES = [
    # a, b, reason, the post on duty, the post keeping a new report
    pytest.param(A, B, "a_on_duty", "A", "A", id="A present"),
    pytest.param(A, None, "a_on_duty", "A", "A", id="A present, no B"),
    pytest.param(A, _away(B), "a_on_duty", "A", "A", id="B away"),
    pytest.param(_away(A), B, "a_away_b_covers", "B", "B", id="A away until further notice"),
    pytest.param(_away(A, SOON), B, "a_away_b_covers", "B", "B", id="A away until later"),
    pytest.param(_away(A, BEFORE), B, "a_on_duty", "A", "A", id="A back"),
    pytest.param(_away(A, NOW), B, "a_on_duty", "A", "A", id="A back at that second"),
    pytest.param(
        PostHolder(1, "张三", "on_duty", SOON), B, "a_on_duty", "A", "A", id="stale away_until"
    ),
    pytest.param(_inactive(A), B, "no_a_b_covers", "B", "B", id="A inactive"),
    pytest.param(None, B, "no_a_b_covers", "B", "B", id="no A"),
    pytest.param(_away(A), _away(B, SOON), "both_away", None, "A", id="both away"),
    pytest.param(_away(A), _inactive(B), "a_away_no_b", None, "A", id="A away, B inactive"),
    pytest.param(_away(A), None, "a_away_no_b", None, "A", id="A away, no B"),
    pytest.param(_inactive(A), _away(B), "no_a_b_away", None, "B", id="A inactive, B away"),
    pytest.param(None, _away(B), "no_a_b_away", None, "B", id="no A, B away"),
    pytest.param(_inactive(_away(A)), _inactive(B), "no_posts", None, None, id="both inactive"),
    pytest.param(None, None, "no_posts", None, None, id="no posts"),
]


@pytest.mark.parametrize(("a", "b", "reason", "duty", "keeps"), RULE_CASES)
def test_the_rule(
    a: PostHolder | None, b: PostHolder | None, reason: str, duty: str | None, keeps: str | None
) -> None:
    answer = on_duty(a, b, now=NOW)
    holders = {"A": a, "B": b}
    assert answer.reason == reason
    assert (answer.label_zh, answer.label_en) == REASONS[reason]
    assert answer.post == duty
    assert answer.holder == (holders[duty] if duty else None)
    assert answer.fallback_post == keeps
    assert answer.fallback == (holders[keeps] if keeps else None)


def test_post_states() -> None:
    assert post_state(None, now=NOW) == "vacant"
    assert post_state(_inactive(A), now=NOW) == "vacant"
    assert post_state(_inactive(_away(A)), now=NOW) == "vacant"
    assert post_state(_away(A), now=NOW) == "away"
    assert post_state(_away(A, SOON), now=NOW) == "away"
    assert post_state(_away(A, BEFORE), now=NOW) == "present"
    assert post_state(A, now=NOW) == "present"


@pytest.mark.parametrize(
    ("holders", "expected"),
    [
        pytest.param([A, B], None, id="nobody away"),
        pytest.param([_away(A), B], None, id="away until further notice"),
        pytest.param([_away(A, SOON), B], SOON, id="A back soon"),
        pytest.param([_away(A, SOON + timedelta(1)), _away(B, SOON)], SOON, id="earliest"),
        pytest.param([_away(A, BEFORE), None], None, id="already back"),
        pytest.param([_inactive(_away(A, SOON)), B], None, id="inactive: no return"),
        pytest.param([PostHolder(1, "张三", "on_duty", SOON)], None, id="not away"),
    ],
)
def test_answer_changes_at(holders: list[PostHolder | None], expected: datetime | None) -> None:
    assert answer_changes_at(holders, now=NOW) == expected


@pytest.mark.parametrize(("a", "b"), [(p.values[0], p.values[1]) for p in RULE_CASES])
def test_the_answer_holds_until_it_changes_by_itself(
    a: PostHolder | None, b: PostHolder | None
) -> None:
    """What the live locator's cache relies on: the answer at NOW holds up to the moment
    :func:`answer_changes_at` gives, and not at that moment."""
    first = on_duty(a, b, now=NOW)
    changes = answer_changes_at([a, b], now=NOW)
    horizon = changes or NOW + timedelta(days=365)
    for t in (NOW + timedelta(seconds=1), horizon - timedelta(seconds=1)):
        assert on_duty(a, b, now=t) == first
    if changes is not None:
        assert on_duty(a, b, now=changes) != first


# ---------------------------------------------------------------------------------------------
# Acceptance: every grid, six states, four places


@dataclass(frozen=True)
class State:
    """Availability, away_until and active for the A and the B holders (None: leave present),
    and what the rule should then say: reason, the post on duty, the post keeping a report."""

    a: tuple[str, datetime | None, bool] | None
    b: tuple[str, datetime | None, bool] | None
    reason: str
    duty: str | None
    keeps: str | None


STATES = {
    "A present": State(None, None, "a_on_duty", "A", "A"),
    "A away": State(("away", FUTURE, True), None, "a_away_b_covers", "B", "B"),
    "A away until a past time": State(("away", PAST, True), None, "a_on_duty", "A", "A"),
    "B away": State(None, ("away", None, True), "a_on_duty", "A", "A"),
    "both away": State(("away", None, True), ("away", FUTURE, True), "both_away", None, "A"),
    "A inactive": State(("on_duty", None, False), None, "no_a_b_covers", "B", "B"),
}
EXPECTED_GAPS = {"both away": {"a_away_no_b"}, "A inactive": {"no_a_post"}}


@dataclass(frozen=True)
class Grid:
    ref: GridRef
    a: int
    b: int
    lon: float
    lat: float

    def staff(self, post: str | None) -> int | None:
        return {"A": self.a, "B": self.b}.get(post) if post else None


def _own_holders(session: Session) -> dict[int, Grid]:
    """Give every current A/B post of the district its own copy of its holder (present), and
    return every current grid with its A and B copies and a point inside it."""
    session.execute(
        text(
            """
            WITH src AS (
                SELECT a.id AS assignment_id, s.district_adcode, s.name, s.role, s.phone,
                       (SELECT max(id) FROM staff) + row_number() OVER (ORDER BY a.id) AS copy
                FROM grid_assignments a JOIN staff s ON s.id = a.staff_id
                JOIN grids g ON g.id = a.grid_id
                WHERE a.valid_to IS NULL AND a.post IN ('A', 'B') AND g.district_adcode = :d
            ), copies AS (
                INSERT INTO staff (id, district_adcode, name, role, phone, availability, active)
                SELECT copy, district_adcode, name, role, phone, 'on_duty', true FROM src
            )
            UPDATE grid_assignments a SET staff_id = src.copy FROM src
            WHERE a.id = src.assignment_id
            """
        ),
        {"d": HUAZHOU},
    )
    rows = session.execute(
        text(
            """
            SELECT g.id, g.code, v.name, g.level, g.kind, g.dedicated_type, v.version, v.area_m2,
                   g.parent_id, pa.staff_id AS a, pb.staff_id AS b,
                   ST_X(ST_PointOnSurface(v.geom)) AS lon, ST_Y(ST_PointOnSurface(v.geom)) AS lat
            FROM grids g JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL
            JOIN grid_assignments pa ON pa.grid_id = g.id AND pa.post = 'A'
                 AND pa.valid_to IS NULL
            JOIN grid_assignments pb ON pb.grid_id = g.id AND pb.post = 'B'
                 AND pb.valid_to IS NULL
            WHERE g.district_adcode = :d AND g.retired_at IS NULL
            ORDER BY g.code
            """
        ),
        {"d": HUAZHOU},
    ).all()
    return {r.id: Grid(GridRef(*r[:9]), r.a, r.b, r.lon, r.lat) for r in rows}


def _set_state(session: Session, state: State, grid_ids: list[int]) -> None:
    for post, values in (("A", state.a), ("B", state.b)):
        if values is None:
            continue
        availability, until, active = values
        session.execute(
            text(
                """
                UPDATE staff s SET availability = :availability, away_until = :until,
                                   active = :active
                FROM grid_assignments a
                WHERE a.staff_id = s.id AND a.valid_to IS NULL AND a.post = :post
                  AND a.grid_id = ANY(:grids)
                """
            ),
            {
                "availability": availability,
                "until": until,
                "active": active,
                "post": post,
                "grids": grid_ids,
            },
        )
    session.flush()


def _routing_reason(note: str | None) -> str:
    """The reason code a routing note starts with (no note: A on duty)."""
    if note is None:
        return "a_on_duty"
    return next(code for code, (_, en) in REASONS.items() if note.startswith(f"{en}: "))


@pytest.mark.parametrize("name", list(STATES))
def test_every_grid_names_the_same_person_in_every_place(db: Session, name: str) -> None:
    """Library paths over every current grid: the signboard as ``/locate`` and the grid
    signboard build it, report routing, the grids map and the gaps map."""
    state = STATES[name]
    grids = _own_holders(db)
    assert grids
    _set_state(db, state, list(grids))
    data = fetch_district_signboard_data(db, district_adcode=HUAZHOU)
    grids_map = {
        g.code: g.properties for g in grid_signboards(db, district_adcode=HUAZHOU, now=NOW)
    }
    gaps: dict[str, list[dict[str, Any]]] = {}
    for row in post_gaps(db, district_adcode=HUAZHOU, now=NOW):
        gaps.setdefault(row.code, []).append(row.as_dict())

    wrong: list[str] = []
    for grid in grids.values():
        expected = (grid.staff(state.duty), state.reason)
        board = build_signboard(grid.ref, data, now=NOW)
        named = {
            "signboard": (board.on_duty.staff_id if board.on_duty else None, board.on_duty_code),
            "grids map": (
                grids_map[grid.ref.code]["on_duty_staff_id"],
                grids_map[grid.ref.code]["on_duty_code"],
            ),
        }
        post = on_duty_post(db, grid.ref.id, now=NOW)
        routed = (post.staff_id, post.reason, _routing_reason(post.note))
        if routed != (grid.staff(state.keeps), state.reason, state.reason):
            wrong.append(f"{grid.ref.code} routing {routed}")
        rows = gaps.get(grid.ref.code, [])
        if {r["kind"] for r in rows} != EXPECTED_GAPS.get(name, set()):
            wrong.append(f"{grid.ref.code} gaps {[r['kind'] for r in rows]}")
        for r in rows:
            named[f"gaps {r['kind']}"] = (r["on_duty_staff_id"], r["on_duty_code"])
        wrong += [
            f"{grid.ref.code} {where} {got}" for where, got in named.items() if got != expected
        ]
    assert not wrong, f"{len(wrong)} disagreements, first: {wrong[:5]}"


@contextmanager
def _session_of(client: TestClient) -> Iterator[Session]:
    """A session in the client's rolled-back transaction: the app sees what it writes."""
    make = client.app.dependency_overrides[get_session]  # type: ignore[attr-defined]
    generator = make()
    try:
        yield next(generator)
    finally:
        next(generator, None)


def test_a_sample_of_grids_answers_alike_over_http(client: TestClient) -> None:
    """24 leaf grids (fixed seed), four in each state, through the routes people use:
    GET /grids/{code}/signboard, GET /locate at a point inside, POST /issues there, and
    GET /analysis/gaps."""
    with _session_of(client) as session:
        grids = _own_holders(session)
        parents = {g.ref.parent_id for g in grids.values()}
        leaves = [
            g
            for g in grids.values()
            if g.ref.kind == "general" and g.ref.level >= 2 and g.ref.id not in parents
        ]
        sample = random.Random(9).sample(leaves, 4 * len(STATES))
        states = {g.ref.id: name for g, name in zip(sample, [*STATES] * 4, strict=True)}
        for name in STATES:
            _set_state(session, STATES[name], [i for i, n in states.items() if n == name])

    gaps = client.get("/analysis/gaps")
    assert gaps.status_code == 200, gaps.text
    gap_rows: dict[str, list[dict[str, Any]]] = {}
    for feature in gaps.json()["features"]:
        if feature["properties"]["kind"] in POST_GAPS:
            gap_rows.setdefault(feature["properties"]["code"], []).append(feature["properties"])

    for grid in sample:
        name = states[grid.ref.id]
        state = STATES[name]
        expected = (grid.staff(state.duty), state.reason)
        signboard = client.get(f"/grids/{grid.ref.code}/signboard")
        assert signboard.status_code == 200, signboard.text
        located = client.get("/locate", params={"lon": grid.lon, "lat": grid.lat})
        assert located.status_code == 200, located.text
        board = located.json()["signboard"]
        assert board["grid"]["code"] == grid.ref.code
        reported = client.post(
            "/issues",
            json={
                "category": "1201",
                "description": "楼道灯坏了",
                "lon": grid.lon,
                "lat": grid.lat,
            },
            headers={"X-Actor": "resident"},
        )
        assert reported.status_code == 201, reported.text
        issue = reported.json()
        assert issue["grid"]["code"] == grid.ref.code

        for where, body in (("signboard", signboard.json()), ("/locate", board)):
            on = body["on_duty"]
            got = (on["staff_id"] if on else None, body["on_duty_code"])
            assert got == expected, (grid.ref.code, name, where)
            assert body["on_duty_reason"] == REASONS[state.reason][1]
        assignee = issue["assignee"]["id"] if issue["assignee"] else None
        assert assignee == grid.staff(state.keeps), (grid.ref.code, name)
        assert _routing_reason(issue["routing_note"]) == state.reason, (grid.ref.code, name)
        rows = gap_rows.get(grid.ref.code, [])
        assert {r["kind"] for r in rows} == EXPECTED_GAPS.get(name, set()), (grid.ref.code, name)
        for r in rows:
            assert (r["on_duty_staff_id"], r["on_duty_code"]) == expected, (grid.ref.code, name)
