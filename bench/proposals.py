"""Bench: time to propose grids, per community and per 1 000 addresses.

    GEOGRID_DATABASE_URL=... python bench/proposals.py [--communities 10]

Proposes the level-1 grids (communities/villages) of the demo with the most level-2 grids,
inside one transaction that is rolled back (nothing is stored), and prints each community's
time, addresses and units, then the mean time per community and per 1 000 addresses.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid.grids import proposals
from geogrid.settings import get_settings
from geogrid.storage.database import create_db_engine

_LARGEST = text(
    """
    SELECT p.code FROM grids p JOIN grids c ON c.parent_id = p.id AND c.retired_at IS NULL
    WHERE p.level = 1 AND p.retired_at IS NULL AND c.kind = 'general'
    GROUP BY p.code ORDER BY count(*) DESC, p.code LIMIT :n
    """
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--communities", type=int, default=10)
    args = parser.parse_args()
    engine = create_db_engine(get_settings())
    now = datetime(2026, 12, 2, tzinfo=UTC)
    total_s, total_addresses = 0.0, 0
    with engine.connect() as conn, conn.begin() as trans:
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        codes = list(session.execute(_LARGEST, {"n": args.communities}).scalars())
        for code in codes:
            start = time.perf_counter()
            made = proposals.propose(session, code, actor="bench", now=now)
            spent = time.perf_counter() - start
            addresses = len(proposals.load_inputs(session, code).points.xy)
            total_s += spent
            total_addresses += addresses
            print(
                f"{code}: {spent:6.2f} s  {addresses:5d} addresses  "
                f"{made['parameters']['units']:4d} units  "
                f"{made['figures']['grids_before']:3d} → {made['figures']['grids_after']:3d} grids "
                f"(households/target {made['figures']['grids_for_target']:3d}), "
                f"{made['figures']['edges_on_current_share']:.2f} of edges on current ones"
            )
        trans.rollback()
    engine.dispose()
    n = max(len(codes), 1)
    print(f"per community: {total_s / n:.2f} s")
    print(f"per 1 000 addresses: {1000 * total_s / max(total_addresses, 1):.2f} s")


if __name__ == "__main__":
    main()
