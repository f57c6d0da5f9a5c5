"""Problem types: every error answer names its rule in a stable ``type`` (``/problems/<rule>``)
that resolves to a description, the same mistake has the same type in every router, and every
rule the code can raise is documented once in :data:`geogrid.errors.RULES`.

The error cases are the ones the other tests already pin by status (404, 409, 412, 422, 428,
the OGC 400s, a 500), each made once here through the API so that the ``type`` is checked too.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from geogrid.errors import RULES
from geogrid.settings import Settings
from tests.rolled_back import rolled_back_app
from tests.test_grids_support import Leaf, etag, pick_leaf
from tests.test_issues_routing import report

ROOT = Path(__file__).resolve().parents[1]
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


@dataclass
class World:
    client: TestClient
    leaf: Leaf
    issue: dict[str, Any]


@pytest.fixture
def world(settings: Settings, demo: Engine) -> Iterator[World]:
    leaf = pick_leaf(demo, min_open=0, skip=3)
    with rolled_back_app(settings, demo) as (client, _, app):

        def boom() -> None:
            raise RuntimeError("a bug")

        app.add_api_route("/__boom", boom)
        point = leaf.geom.representative_point()
        created = report(client, lon=point.x, lat=point.y)
        assert created.status_code == 201, created.text
        yield World(client, leaf, created.json())


def _bowtie(leaf: Leaf) -> dict[str, Any]:
    x0, y0, x1, y1 = leaf.geom.bounds
    ring = [[x0, y0], [x1, y1], [x1, y0], [x0, y1], [x0, y0]]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}}


Case = Callable[[World], Any]

#: (id, request, status, rule): one request per error case the suite pins by status.
CASES: list[tuple[str, Case, int, str]] = [
    ("unknown grid", lambda w: w.client.get("/grids/610503999999999"), 404, "not_found"),
    ("unknown path", lambda w: w.client.get("/no/such/page"), 404, "not_found"),
    ("unknown issue", lambda w: w.client.get("/issues/999999999"), 404, "not_found"),
    ("wrong method", lambda w: w.client.put("/grids"), 405, "method_not_allowed"),
    ("schema", lambda w: w.client.get("/grids", params={"level": 9}), 422, "invalid_request"),
    ("bbox core", lambda w: w.client.get("/grids", params={"bbox": "1,2,3"}), 422, "bbox"),
    (
        "bbox ogc",
        lambda w: w.client.get("/ogc/collections/grids-level-1/items", params={"bbox": "1,2,3"}),
        400,
        "bbox",
    ),
    (
        "ogc unknown parameter",
        lambda w: w.client.get("/ogc/collections/grids-level-1/items", params={"colour": "red"}),
        400,
        "invalid_parameter",
    ),
    (
        "ogc datetime interval",
        lambda w: w.client.get(
            "/ogc/collections/grids-level-1/items", params={"datetime": "2026-01-01/2026-02-01"}
        ),
        400,
        "datetime",
    ),
    (
        "no If-Match",
        lambda w: w.client.patch(
            f"/grids/{w.leaf.code}", json={"type": "Feature", "properties": {"name": "x"}}
        ),
        428,
        "precondition_required",
    ),
    (
        "stale If-Match",
        lambda w: w.client.patch(
            f"/grids/{w.leaf.code}",
            json={"type": "Feature", "properties": {"name": "x"}},
            headers={"If-Match": f'"{w.leaf.code}-v999"'},
        ),
        412,
        "precondition_failed",
    ),
    (
        "stale issue If-Match",
        lambda w: w.client.post(
            f"/issues/{w.issue['id']}/transitions",
            json={"to": "accepted"},
            headers={"If-Match": f'"{w.issue["id"]}-v999"'},
        ),
        412,
        "precondition_failed",
    ),
    (
        "retire a parent",
        lambda w: w.client.delete(
            f"/grids/{w.leaf.parent}", headers={"If-Match": etag(w.client, w.leaf.parent)}
        ),
        409,
        "has_children",
    ),
    (
        "illegal transition",
        lambda w: w.client.post(f"/issues/{w.issue['id']}/transitions", json={"to": "closed"}),
        409,
        "illegal_transition",
    ),
    (
        "self-intersecting boundary",
        lambda w: w.client.patch(
            f"/grids/{w.leaf.code}",
            json=_bowtie(w.leaf),
            headers={"If-Match": etag(w.client, w.leaf.code)},
        ),
        422,
        "self_intersection",
    ),
    (
        "anonymous write",
        lambda w: w.client.post(
            f"/issues/{w.issue['id']}/transitions",
            json={"to": "accepted"},
            headers={"Authorization": ""},
        ),
        401,
        "login_required",
    ),
    (
        "stale bearer token",
        lambda w: w.client.get("/issues", headers={"Authorization": "Bearer not-a-token"}),
        401,
        "login_required",
    ),
    ("unexpected error", lambda w: w.client.get("/__boom"), 500, "internal_error"),
]


@pytest.mark.parametrize(
    ("request_", "status", "rule"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_every_error_names_its_rule_in_a_stable_type(
    world: World, request_: Case, status: int, rule: str
) -> None:
    answer = request_(world)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["type"] == f"/problems/{rule}" and body["rule"] == rule, body
    assert body["status"] == status and body["detail"]
    page = world.client.get(body["type"])
    assert page.status_code == 200 and page.json()["rule"] == rule
    assert page.json()["description"] == RULES[rule]


def test_a_412_names_the_entity_tag_to_send(world: World) -> None:
    code = world.leaf.code
    current = etag(world.client, code)
    stale = world.client.delete(f"/grids/{code}", headers={"If-Match": f'"{code}-v999"'})
    assert stale.status_code == 412 and stale.json()["etag"] == current
    assert current in stale.json()["detail"]


def test_x_actor_is_not_believed_the_login_signs_every_change(world: World) -> None:
    name = "华州街道办"
    moved = world.client.post(
        f"/issues/{world.issue['id']}/transitions",
        json={"to": "accepted"},
        headers={"X-Actor": quote(name)},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["timeline"][-1]["actor"] == "test-admin"
    edited = world.client.patch(
        f"/grids/{world.leaf.code}",
        json={"type": "Feature", "properties": {"name": "改名"}},
        headers={"If-Match": etag(world.client, world.leaf.code), "X-Actor": quote(name)},
    )
    assert edited.status_code == 200, edited.text
    history = world.client.get(f"/grids/{world.leaf.code}/history").json()["features"]
    assert history[-1]["properties"]["changed_by"] == "test-admin"


def test_unknown_problem_type_is_404_and_the_list_covers_every_rule(world: World) -> None:
    missing = world.client.get("/problems/no_such_rule")
    assert missing.status_code == 404 and missing.json()["type"] == "/problems/not_found"
    listed = world.client.get("/problems").json()["problems"]
    assert [p["rule"] for p in listed] == sorted(RULES)


def test_the_schema_documents_an_invalid_request_as_the_problem_it_answers(
    world: World,
) -> None:
    schema = world.client.get("/openapi.json").json()
    invalid = [
        op["responses"]["422"]
        for item in schema["paths"].values()
        for op in item.values()
        if "422" in op.get("responses", {})
    ]
    assert len(invalid) > 50
    assert all(
        r["content"] == {"application/problem+json": {"schema": PROBLEM_REF}} for r in invalid
    )
    assert "HTTPValidationError" not in str(schema)
    problem = schema["components"]["schemas"]["Problem"]
    answer = world.client.get("/grids", params={"limit": "many"})
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert set(problem["required"]) <= set(answer.json())


# -- the catalogue ----------------------------------------------------------------------------


def _catalogue_keys() -> list[str]:
    """The keys of RULES as written in the source: a dict literal silently keeps the last of
    two equal keys, so duplicates are only visible there."""
    tree = ast.parse((ROOT / "geogrid" / "errors.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == "RULES"
            and isinstance(node.value, ast.Dict)
        ):
            return [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
    raise AssertionError("RULES is not a dict literal in geogrid/errors.py")


def _raised_rules() -> dict[str, str]:
    """Every rule slug written in the code, with where: ``rule="..."`` arguments, the rule
    argument of ``geometry_problem``, ``default_rule`` of the error classes, and the
    (container, label, rule) triples of the placement checks."""
    found: dict[str, str] = {}
    for path in [*(ROOT / "geogrid").rglob("*.py"), *(ROOT / "api").rglob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            values: list[ast.expr] = []
            if isinstance(node, ast.Call):
                values += [k.value for k in node.keywords if k.arg == "rule"]
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name == "geometry_problem" and len(node.args) >= 2:
                    values.append(node.args[1])
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "default_rule" for t in node.targets
            ):
                values.append(node.value)
            elif (
                isinstance(node, ast.Tuple)
                and len(node.elts) == 3
                and path.name == "validation.py"
                and isinstance(node.elts[1], ast.JoinedStr)
            ):
                values.append(node.elts[2])
            for value in values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found.setdefault(value.value, f"{where}:{value.lineno}")
    return found


def test_rule_catalogue_has_no_duplicates_and_documents_every_rule_raised() -> None:
    keys = _catalogue_keys()
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    assert all(k.isidentifier() and k == k.lower() for k in keys)
    assert all(len(text) > 20 for text in RULES.values())
    raised = _raised_rules()
    assert len(raised) > 40  # the scan sees the raise sites (it would pass vacuously if not)
    undocumented = {rule: where for rule, where in raised.items() if rule not in RULES}
    assert not undocumented, undocumented
