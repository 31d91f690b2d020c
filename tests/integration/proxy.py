"""A hostile TCP proxy on loopback for fault tests: it throttles what the server sends
and cuts each connection after a random number of bytes."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Proxy:
    """Forwards 127.0.0.1:``port`` to ``upstream``; server-to-client bytes go at most
    ``rate`` bytes/s and a connection is cut after ``cut`` (lo, hi) bytes of them."""

    def __init__(self, upstream_port: int, *, rate: float | None = None,
                 cut: tuple[int, int] | None = None, seed: int = 1) -> None:
        self.upstream_port = upstream_port
        self.rate = rate
        self.cut = cut
        self.random = random.Random(seed)
        self.port = 0
        self.connections = 0
        self.cuts = 0
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._writers: list[asyncio.StreamWriter] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()
        server.close()
        for writer in self._writers:
            writer.close()
        tasks = asyncio.all_tasks(self.loop)
        for task in tasks:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self.loop.run_until_complete(server.wait_closed())
        self.loop.close()

    async def _serve(self, client_r: asyncio.StreamReader,
                     client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(client_w)
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_w.close()
            return
        self._writers.append(server_w)
        budget = self.random.randint(*self.cut) if self.cut else None
        up = asyncio.ensure_future(self._pipe(client_r, server_w, None, None))
        down = asyncio.ensure_future(self._pipe(server_r, client_w, self.rate, budget))
        await asyncio.wait([up, down], return_when=asyncio.FIRST_COMPLETED)
        for task in (up, down):
            task.cancel()
        await asyncio.gather(up, down, return_exceptions=True)
        for writer in (client_w, server_w):
            writer.close()
            await writer.wait_closed()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    rate: float | None, budget: int | None) -> None:
        began, sent = time.monotonic(), 0
        while True:
            data = await reader.read(16 << 10)
            if not data:
                return
            if budget is not None and sent + len(data) >= budget:
                writer.write(data[:budget - sent])
                await writer.drain()
                self.cuts += 1
                return  # cut: both sides are closed
            writer.write(data)
            await writer.drain()
            sent += len(data)
            if rate:
                ahead = sent / rate - (time.monotonic() - began)
                if ahead > 0:
                    await asyncio.sleep(ahead)

    def start(self) -> Proxy:
        self._thread.start()
        self._ready.wait(5)
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


@contextmanager
def proxy(upstream_port: int, **kwargs: object) -> Iterator[Proxy]:
    p = Proxy(upstream_port, **kwargs).start()  # type: ignore[arg-type]
    try:
        yield p
    finally:
        p.stop()
