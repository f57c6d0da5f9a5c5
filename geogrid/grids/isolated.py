"""Parse an uploaded grid file in a child process with memory and CPU limits.

GDAL is C code reading whatever a stranger uploads: a hostile file can make it allocate
without bound, loop, or crash the process. Parsed in the server process, that takes every
request down with it; parsed here, in a child with ``RLIMIT_AS`` and ``RLIMIT_CPU`` (and a
wall-clock deadline after which it is killed), it costs one refused upload (422).

Children come from a *forkserver* that has imported the readers once, so each upload pays for
a fork, not for importing GDAL and pandas again; a forkserver also forks from a process with
no other threads, which a fork of the threaded server would not be.
"""

from __future__ import annotations

import multiprocessing
import resource
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final

from geogrid.errors import GeogridError, InvalidInputError
from geogrid.grids.io_formats import GridFormat, SourceData, read_features

__all__ = ["read_features_isolated"]

_CONTEXT: Final = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["geogrid.grids.io_formats"])


def _limit(memory_bytes: int, cpu_seconds: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _child(
    conn: Connection, path: str, kwargs: dict[str, Any], memory_bytes: int, cpu_seconds: int
) -> None:
    _limit(memory_bytes, cpu_seconds)
    try:
        result: tuple[str, Any] = ("ok", read_features(Path(path), **kwargs))
    except GeogridError as exc:
        result = (
            "error",
            (exc.detail, exc.rule, {k: v for k, v in exc.extra.items() if k != "rule"}),
        )
    except MemoryError:
        result = ("limit", "memory")
    except Exception as exc:  # a parser's failure is the file's, reported as such
        result = ("failed", type(exc).__name__)
    try:
        conn.send(result)
    except MemoryError:
        conn.send(("limit", "memory"))
    finally:
        conn.close()


def read_features_isolated(
    path: Path,
    fmt: GridFormat | str | None = None,
    *,
    memory_bytes: int,
    cpu_seconds: int,
    wall_seconds: float | None = None,
    **kwargs: Any,
) -> SourceData:
    """:func:`geogrid.grids.io_formats.read_features` in a limited child process.

    Raises
    ------
    InvalidInputError
        The file's own problems, as ``read_features`` names them; ``rule="upload"`` when the
        parser ran out of memory or time, or died.
    """
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    process = _CONTEXT.Process(
        target=_child,
        args=(sender, str(path), {"fmt": fmt, **kwargs}, memory_bytes, cpu_seconds),
        daemon=True,
    )
    process.start()
    sender.close()
    deadline = wall_seconds if wall_seconds is not None else cpu_seconds * 2 + 10
    try:
        if not receiver.poll(deadline):
            raise _refused(path, f"took longer than {deadline:.0f} s to read")
        try:
            kind, value = receiver.recv()
        except (EOFError, OSError):
            raise _refused(path, "crashed the file reader") from None
    finally:
        receiver.close()
        if process.is_alive():
            process.kill()
        process.join()
    if kind == "ok":
        data: SourceData = value
        return data
    if kind == "error":
        detail, rule, extra = value
        raise InvalidInputError(detail, rule=rule, **extra)
    if kind == "limit":
        raise _refused(path, f"needs more than {memory_bytes / 2**20:.0f} MB of memory to read")
    raise _refused(path, "cannot be read (the reader failed on it)")


def _refused(path: Path, why: str) -> InvalidInputError:
    return InvalidInputError(
        f"{path.name} {why}: check that it is the format its name says, or split it.",
        rule="upload",
        file=path.name,
    )
