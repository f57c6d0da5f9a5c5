"""Downloads (the ledger, grid files) streamed from a spooled temporary file.

An export is written, row by row, into a temporary file inside the request's transaction (so
row-level security filters it by the caller's reach, and the rows come from the database in
batches), then sent in chunks from that file: the server never holds a whole export in memory
(beyond :data:`SPOOL_BYTES`, the file is on disk), and the database connection is back in the
pool before the first byte leaves, so a slow client holds a file handle, not a connection
and a transaction. The file is deleted when the stream ends (or the client goes away).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO, Any

from fastapi.responses import StreamingResponse

__all__ = ["CHUNK_BYTES", "SPOOL_BYTES", "download", "spooled_file"]

#: Exports up to this size stay in memory; larger ones go to a temporary file on disk.
SPOOL_BYTES = 1 << 20
#: The size of the chunks sent.
CHUNK_BYTES = 64 * 1024


def spooled_file() -> IO[bytes]:
    """A temporary binary file to write an export into (in memory up to :data:`SPOOL_BYTES`)."""
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+b")


def _chunks(file: IO[Any]) -> Iterator[bytes]:
    try:
        while chunk := file.read(CHUNK_BYTES):
            yield chunk
    finally:
        file.close()


def download(file: IO[Any], *, media_type: str, filename: str) -> StreamingResponse:
    """The response streaming ``file`` (written, any position) from its start, with its length
    and an attachment name; the response closes the file (a temporary one is deleted)."""
    size = file.seek(0, 2)
    file.seek(0)
    return StreamingResponse(
        _chunks(file),
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Length": str(size),
        },
    )
