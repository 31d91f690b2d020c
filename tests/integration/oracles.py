"""What nats-py, the independent client, reads from a stream: the oracle of read tests."""

from __future__ import annotations

import asyncio
import hashlib
import time

import nats


def digest(seq: int, subject: str, data: bytes) -> tuple[int, str, str]:
    return seq, subject, hashlib.sha256(data).hexdigest()


def nats_py_read(url: str, stream: str) -> tuple[list[tuple[int, str, str]], float]:
    """Every message as nats-py reads it (a pull consumer without acks), and the time."""

    async def run() -> tuple[list[tuple[int, str, str]], float]:
        from nats.js.api import AckPolicy, ConsumerConfig

        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            total = (await js.stream_info(stream)).state.messages
            began = time.perf_counter()
            sub = await js.pull_subscribe("", stream=stream,
                                          config=ConsumerConfig(ack_policy=AckPolicy.NONE))
            out: list[tuple[int, str, str]] = []
            while len(out) < total:  # 16 at a time: more would pass its 64 MB pending limit
                msgs = await sub.fetch(min(16, total - len(out)), timeout=10)
                out += [digest(m.metadata.sequence.stream, m.subject, m.data) for m in msgs]
            return out, time.perf_counter() - began
        finally:
            await nc.close()

    return asyncio.run(run())


def nats_py_get(urls: list[str], stream: str) -> list[tuple[int, str, bytes]]:
    """Every message of ``stream`` as nats-py gets it from the stream leader (MSG.GET)."""

    async def run() -> list[tuple[int, str, bytes]]:
        nc = await nats.connect(urls)
        try:
            js = nc.jetstream()
            info = await js.stream_info(stream)
            out = []
            seqs = list(range(info.state.first_seq, info.state.last_seq + 1))
            for i in range(0, len(seqs), 500):
                msgs = await asyncio.gather(*(js.get_msg(stream, s) for s in seqs[i:i + 500]))
                out += [(m.seq, m.subject, m.data or b"") for m in msgs]
            return out
        finally:
            await nc.close()

    return asyncio.run(run())
