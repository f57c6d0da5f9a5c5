"""Make the database go away for one app, without touching the machine's PostgreSQL.

:class:`TcpProxy` stands between an app and PostgreSQL (an asyncio proxy in its own thread):
the app's database URL points at the proxy, and the test cuts it (every connection dropped,
new ones refused — what a stopped or restarting server looks like), stalls it (connections
accepted and never answered — a host that does not reply, so connect timeouts are met) and
restores it. Other engineers' databases on the same server never notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

__all__ = ["TcpProxy", "proxied_url", "wait_for_backend"]

T = TypeVar("T")


class TcpProxy:
    """A TCP proxy to ``host:port`` on a free local port; a context manager.

    Modes: ``forward`` (normal), ``cut`` (listener closed, connections reset: refused),
    ``stall`` (connections reset, new ones accepted but never forwarded).
    """

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.BaseTransport] = set()
        self.port = 0
        self.mode = "forward"
        self.accepted = 0

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self._run(self._listen())
        return self

    def __exit__(self, *exc: object) -> None:
        self._run(self._close(listen=False))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def cut(self) -> None:
        """Drop every connection and refuse new ones."""
        self._run(self._close(listen=False))
        self.mode = "cut"

    def stall(self) -> None:
        """Drop every connection; accept new ones but never answer them."""
        self._run(self._close(listen=True))
        self.mode = "stall"

    def restore(self) -> None:
        """Forward again, on the same port."""
        if self._server is None:
            self._run(self._listen())
        self.mode = "forward"

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self, *, listen: bool) -> None:
        if not listen and self._server is not None:
            self._server.close()
            self._server = None
        for transport in list(self._transports):
            # abort: a reset, as when the server process dies, not a polite FIN
            if isinstance(transport, asyncio.WriteTransport):
                transport.abort()
        self._transports.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._transports.add(writer.transport)
        if self.mode == "stall":
            await reader.read()  # hold it open, say nothing, until the client gives up
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._transports.add(up_writer.transport)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._transports.discard(writer.transport)
        self._transports.discard(up_writer.transport)


def proxied_url(database_url: str, proxy: TcpProxy) -> str:
    """``database_url`` with its host and port replaced by the proxy's."""
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


def wait_for_backend(engine: Engine, application_name: str, *, wait_event_type: str) -> int:
    """The pid of the one backend named ``application_name`` waiting on ``wait_event_type``
    (``Lock``), once PostgreSQL shows it so (a guard of 60 s against hanging, not a timing)."""
    import time

    deadline = time.monotonic() + 60
    while True:
        with engine.connect() as conn:
            pids = (
                conn.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND application_name = :name AND wait_event_type = :wait"
                    ),
                    {"name": application_name, "wait": wait_event_type},
                )
                .scalars()
                .all()
            )
        if len(pids) == 1:
            return int(pids[0])
        assert len(pids) < 2, f"several backends of {application_name} wait: {pids}"
        assert time.monotonic() < deadline, f"no backend of {application_name} ever waited"
        time.sleep(0.05)
