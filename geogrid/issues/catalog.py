"""Categories (the two-level taxonomy, with Open311 attributes) and departments.

Admins edit them through the API, so a fresh district without the demo can start working.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from geogrid.errors import ConflictError, InvalidInputError, NotFoundError
from geogrid.storage.models import Department, IssueCategory, IssueCategoryAttribute
from geogrid.vocabulary import HANDLING_LEVELS

__all__ = [
    "category_attributes",
    "create_category",
    "create_department",
    "list_categories",
    "list_departments",
    "update_category",
    "update_department",
]


def _category_dict(
    c: IssueCategory, parent_code: str | None, dept_code: str | None
) -> dict[str, Any]:
    return {
        "code": c.code,
        "name": c.name,
        "parent_code": parent_code,
        "default_level": c.default_level,
        "deadline_hours": c.deadline_hours,
        "deadline_working_time": c.deadline_working_time,
        "department_code": dept_code,
        "description": c.description,
        "active": c.active,
    }


def list_categories(session: Session, *, include_inactive: bool = False) -> list[dict[str, Any]]:
    cats = session.scalars(select(IssueCategory).order_by(IssueCategory.code)).all()
    by_id = {c.id: c.code for c in cats}
    depts = dict(session.execute(select(Department.id, Department.code)).all())
    return [
        _category_dict(c, by_id.get(c.parent_id or 0), depts.get(c.department_id or 0))
        for c in cats
        if include_inactive or c.active
    ]


def category_attributes(session: Session, category_id: int) -> list[IssueCategoryAttribute]:
    return list(
        session.scalars(
            select(IssueCategoryAttribute)
            .where(IssueCategoryAttribute.category_id == category_id)
            .order_by(IssueCategoryAttribute.position, IssueCategoryAttribute.code)
        ).all()
    )


def _check_level(level: str | None) -> None:
    if level is not None and level not in HANDLING_LEVELS:
        raise InvalidInputError(
            f"Unknown handling level {level!r}.", value=level, allowed=list(HANDLING_LEVELS)
        )


def _resolve_refs(session: Session, values: dict[str, Any], adcode: str) -> dict[str, Any]:
    out = dict(values)
    if "parent_code" in out:
        code = out.pop("parent_code")
        if code is None:
            out["parent_id"] = None
        else:
            pid = session.scalar(select(IssueCategory.id).where(IssueCategory.code == code))
            if pid is None:
                raise InvalidInputError(f"Unknown parent category {code!r}.", value=code)
            out["parent_id"] = pid
    if "department_code" in out:
        code = out.pop("department_code")
        if code is None:
            out["department_id"] = None
        else:
            did = session.scalar(
                select(Department.id).where(
                    Department.code == code, Department.district_adcode == adcode
                )
            )
            if did is None:
                raise InvalidInputError(f"Unknown department {code!r}.", value=code)
            out["department_id"] = did
    return out


def _set_attributes(session: Session, category_id: int, attributes: list[dict[str, Any]]) -> None:
    session.execute(
        delete(IssueCategoryAttribute).where(IssueCategoryAttribute.category_id == category_id)
    )
    if attributes:
        session.execute(
            insert(IssueCategoryAttribute),
            [{**a, "category_id": category_id} for a in attributes],
        )


def create_category(session: Session, values: dict[str, Any], *, adcode: str) -> dict[str, Any]:
    """Add a category; ``attributes`` become its Open311 service definition."""
    _check_level(values.get("default_level"))
    attributes = values.pop("attributes", None) or []
    if session.scalar(select(IssueCategory.id).where(IssueCategory.code == values["code"])):
        raise ConflictError(f"Category {values['code']!r} exists already; PATCH it instead.")
    category = IssueCategory(**_resolve_refs(session, values, adcode))
    session.add(category)
    session.flush()
    _set_attributes(session, category.id, attributes)
    return {"code": category.code}


def update_category(
    session: Session, code: str, values: dict[str, Any], *, adcode: str
) -> dict[str, Any]:
    category = session.scalars(select(IssueCategory).where(IssueCategory.code == code)).first()
    if category is None:
        raise NotFoundError(f"There is no category {code!r}.", value=code)
    _check_level(values.get("default_level"))
    attributes = values.pop("attributes", None)
    for key, value in _resolve_refs(session, values, adcode).items():
        setattr(category, key, value)
    session.flush()
    if attributes is not None:
        _set_attributes(session, category.id, attributes)
    return {"code": category.code}


def _department_dict(d: Department) -> dict[str, Any]:
    return {
        "code": d.code,
        "name": d.name,
        "kind": d.kind,
        "phone": d.phone,
        "active": d.active,
        "district_adcode": d.district_adcode,
    }


def list_departments(session: Session, *, adcode: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Department).where(Department.district_adcode == adcode).order_by(Department.code)
    ).all()
    return [_department_dict(d) for d in rows]


def create_department(session: Session, values: dict[str, Any], *, adcode: str) -> dict[str, Any]:
    exists = session.scalar(
        select(Department.id).where(
            Department.code == values["code"], Department.district_adcode == adcode
        )
    )
    if exists is not None:
        raise ConflictError(
            f"Department {values['code']!r} exists already in {adcode}; PATCH it instead."
        )
    department = Department(district_adcode=adcode, **values)
    session.add(department)
    session.flush()
    return _department_dict(department)


def update_department(
    session: Session, code: str, values: dict[str, Any], *, adcode: str
) -> dict[str, Any]:
    department = session.scalars(
        select(Department).where(Department.code == code, Department.district_adcode == adcode)
    ).first()
    if department is None:
        raise NotFoundError(f"There is no department {code!r} in {adcode}.", value=code)
    for key, value in values.items():
        setattr(department, key, value)
    session.flush()
    return _department_dict(department)
