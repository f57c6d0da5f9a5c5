"""Make concurrent requests truly overlap, without timing: hold the row they fight over.

A third connection locks the row; the requests start and block on it; only once PostgreSQL
shows every one of them waiting is the lock released. Whatever the machine's load, the requests
then race for the same row, which is what an optimistic-concurrency test must prove.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from sqlalchemy import Engine, text

__all__ = ["race_behind_row_lock", "run_coroutine", "waiting_on_locks"]

T = TypeVar("T")


def waiting_on_locks(engine: Engine) -> int:
    """Backends of this database waiting for a lock (our requests, once they block)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        )


def race_behind_row_lock(
    engine: Engine,
    lock_sql: str,
    params: Mapping[str, Any],
    requests: Mapping[str, Callable[[], Any]],
) -> dict[str, Any]:
    """Run every request of ``requests`` in its own thread while ``lock_sql`` (a ``SELECT ...
    FOR UPDATE``) holds the row; returns each request's result by name."""
    results: dict[str, Any] = {}

    def run(name: str) -> None:
        results[name] = requests[name]()

    holder = engine.connect()
    trans = holder.begin()
    threads = [threading.Thread(target=run, args=(name,)) for name in requests]
    try:
        holder.execute(text(lock_sql), dict(params))
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60  # a guard against hanging, not a timed assertion
        while waiting_on_locks(engine) < len(requests):
            assert time.monotonic() < deadline, "the requests never all reached the lock"
            time.sleep(0.05)
    finally:
        trans.rollback()
        holder.close()
    for t in threads:
        t.join(timeout=120)
    return results


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a thread of its own: a test may run while another library (the
    browser tests' Playwright) keeps an event loop running in the main thread, where
    ``asyncio.run`` refuses to start."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
