"""Interrupting a real notebook kernel (Jupyter's stop button) during a read, a sync and a replay.

Each interrupt must stop the call within a second, leave no consumer on the
server and no thread of the call behind, and leave the connection usable:
the next call in the same kernel works, and a sync resumes exactly.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import pytest

import eventkit as ek

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# enough events that a read lasts well past the latest interrupt (0.6 s): a read of
# 400,000 took 0.5 s once the protocol loop was compiled, and finished first
N = 1_200_000


class Kernel:
    """A real IPython kernel, driven as JupyterLab drives it."""

    def __init__(self) -> None:
        from jupyter_client.manager import KernelManager

        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel()
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 60, **options: Any) -> dict[str, Any]:
        """Execute ``code``; its reply (``status``, ``ename``, ...).

        Right after an error the kernel aborts what is queued (``stop_on_error``); a
        person would run the cell again, and so does this.
        """
        for _ in range(20):
            reply = self._reply(self.client.execute(code, **options), timeout)
            if reply["status"] != "aborted":
                return reply
        raise AssertionError(f"the kernel aborted {code!r} 20 times")

    def value(self, expression: str) -> Any:
        """The value of ``expression`` in the kernel (by its repr)."""
        import ast

        reply = self.run(f"_ek_value = repr({expression})", user_expressions={"v": "_ek_value"})
        assert reply["status"] == "ok", reply
        return ast.literal_eval(ast.literal_eval(reply["user_expressions"]["v"]["data"]
                                                 ["text/plain"]))

    def interrupted(self, code: str, after: float) -> tuple[dict[str, Any], float]:
        """Execute ``code``, interrupt the kernel ``after`` seconds in: the reply and how long
        the interrupt took to stop it."""
        self.run("pass")  # the kernel takes requests again after an earlier interrupt
        msg_id = self.client.execute(code)
        time.sleep(after)  # a moment inside the call, chosen at random by the test
        self.manager.interrupt_kernel()
        sent = time.monotonic()
        reply = self._reply(msg_id, 60)
        return reply, time.monotonic() - sent

    def _reply(self, msg_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            msg = self.client.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.1))
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg["content"]  # type: ignore[no-any-return]

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def big(server: ek.EmbeddedServer) -> Iterator[str]:
    with ek.connect(server.url) as conn:
        conn.create_stream("BIGINT", ["bigint.>"])
        for lo in range(0, N, 100_000):
            conn.publish_many([f"bigint.t{i % 5}" for i in range(lo, lo + 100_000)],
                              [b'{"type":"t%d","key":"k%d","n":%d}' % (i % 5, i % 1000, i)
                               for i in range(lo, lo + 100_000)])
        yield "BIGINT"
        from eventkit.source import _loop

        _loop.run(conn.jetstream.delete_stream("BIGINT"))


@pytest.fixture(scope="module")
def kernel(server: ek.EmbeddedServer) -> Iterator[Kernel]:
    k = Kernel()
    reply = k.run(f"import eventkit as ek, threading\nconn = ek.connect({server.url!r})")
    assert reply["status"] == "ok", reply
    yield k
    k.close()


def _threads(kernel: Kernel) -> set[str]:
    return set(kernel.value("sorted(t.name for t in threading.enumerate())"))


def test_interrupting_a_read_stops_it_and_the_connection_reads_on(kernel, big, server):
    assert kernel.run(f"conn.read({big!r}, start=1, end=10, progress=False)")["status"] == "ok"
    before = _threads(kernel)
    rng = random.Random(11)
    for _ in range(3):
        reply, took = kernel.interrupted(f"events = conn.read({big!r}, progress=False)",
                                         rng.uniform(0.1, 0.6))
        assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt", reply
        assert took < 1.0, f"the interrupt took {took:.2f} s to stop the read"
        assert _threads(kernel) <= before | {"eventkit-decode_0"}
        with ek.connect(server.url) as conn:
            assert conn.stream(big).consumers == 0
        assert kernel.value(f"len(conn.read({big!r}, start=5, end=14, progress=False))") == 10


def test_interrupting_a_sync_stops_it_and_the_next_sync_resumes_exactly(kernel, big, tmp_path):
    store = tmp_path / "store"
    rng = random.Random(5)
    for _ in range(3):
        reply, took = kernel.interrupted(
            f"store = ek.Store({str(store)!r}); store.sync(conn, {big!r}, batch=20_000, "
            "progress=False)", rng.uniform(0.2, 0.8))
        if reply["status"] == "ok":  # it had finished before the interrupt came
            break
        assert reply["ename"] == "KeyboardInterrupt", reply
        assert took < 1.0, f"the interrupt took {took:.2f} s to stop the sync"
    assert kernel.run("result = store.sync(conn, progress=False)")["status"] == "ok"
    seqs = ek.Store(store).scan().select("seq").collect()["seq"]
    assert seqs.to_list() == list(range(1, N + 1))


def test_interrupting_a_replay_stops_it_and_the_kernel_goes_on(kernel, big):
    code = (f"events = conn.read({big!r}, end=200_000, progress=False)\n"
            "import time\n"
            "def slow(state, event):  # a callback that does real work per event\n"
            "    time.sleep(0.00005)\n"
            "    return (state or 0) + 1\n"
            "fold = ek.Fold(slow, None)")
    assert kernel.run(code)["status"] == "ok"
    reply, took = kernel.interrupted("ek.Replay(events).run(fold, progress=False)", 0.5)
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt", reply
    assert took < 1.0, f"the interrupt took {took:.2f} s to stop the replay"
    assert kernel.value("len(ek.Replay(events.upto(100)).run(ek.Latest(), progress=False))") > 0
