"""Statement triggers stay linear in the rows a statement writes, whatever ran before them on
the connection.

PL/pgSQL keeps the plan of a static statement for the life of the connection. In a trigger
with transition tables that plan is made for the row counts of its first call: after a
one-row update (a worker accepting an issue) a join of ``old_rows`` with ``new_rows`` is a
nested loop, and the next bulk update on that connection runs it over every pair of rows. The
deadline escalation of the demo's 869 overdue issues took 293 s in the suite that way (a
semi-join inside a nested loop), under a second with a plan made for its own rows. Migration
0019 runs such joins through ``EXECUTE``, planned at each call.

The rule, checked over the functions of the migrated database (a timing would be flaky on a
shared machine): no static statement of a trigger function joins the two transition tables of
its trigger; the dynamic ones are the ``EXECUTE $q$...$q$`` blocks. The effect is shown by
``tests/test_issues_workflow.py::test_escalation_by_deadline_then_by_hand``, whose bulk
escalation follows one-row updates on the same connection.
"""

from __future__ import annotations

import re

from sqlalchemy import Engine, text

_DYNAMIC = re.compile(r"EXECUTE\s+\$q\$.*?\$q\$", re.DOTALL | re.IGNORECASE)
_COMMENT = re.compile(r"--[^\n]*")


def _static_statements(source: str) -> list[str]:
    """The statements of a PL/pgSQL body outside ``EXECUTE $q$...$q$`` blocks, without
    comments."""
    code = _DYNAMIC.sub("", _COMMENT.sub("", source))
    return [s.strip() for s in code.split(";") if s.strip()]


def test_splitting_keeps_dynamic_statements_out() -> None:
    body = "EXECUTE $q$SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id$q$; RETURN NULL;"
    assert _static_statements(body) == ["RETURN NULL"]
    assert _static_statements("-- old_rows and new_rows\nRETURN NULL;") == ["RETURN NULL"]
    assert _static_statements("SELECT 1 FROM old_rows, new_rows;") == [
        "SELECT 1 FROM old_rows, new_rows"
    ]


def test_no_static_statement_joins_old_and_new_rows(demo: Engine) -> None:
    with demo.connect() as conn:
        functions = conn.execute(
            text(
                """
                SELECT DISTINCT p.proname, p.prosrc, t.tgoldtable, t.tgnewtable
                FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
                WHERE t.tgoldtable IS NOT NULL AND t.tgnewtable IS NOT NULL
                """
            )
        ).all()
    assert functions, "no trigger with both transition tables: the check checks nothing"
    # a UNION of one select from each (the revision bumps' districts) is linear, not a join
    offenders = [
        f"{name}: {' '.join(statement.split())[:160]}"
        for name, source, old, new in functions
        for statement in _static_statements(source)
        for part in re.split(r"\bUNION\b", statement, flags=re.IGNORECASE)
        if re.search(rf"\b{old}\b", part) and re.search(rf"\b{new}\b", part)
    ]
    assert offenders == [], "plan these joins at each call (EXECUTE $q$...$q$): " + "; ".join(
        offenders
    )
