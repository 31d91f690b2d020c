"""A call written once and its twin made from it: one signature, the work where it belongs,
warnings in the caller's thread, no argument left in a traceback's locals."""

from __future__ import annotations

import asyncio
import inspect
import threading
import traceback
import warnings

import pytest

from eventkit.source import _loop
from eventkit.source._twins import sync_twin, thread_twin, warn


class Reader:
    async def aread(self, name: str, *, note: str | None = None) -> tuple[int, str]:
        """Read ``name``.

        More about it.
        """
        if note:
            warn(note, UserWarning)
        return threading.get_ident(), name

    read = sync_twin(aread)

    def fold(self, n: int, *, by: int = 1) -> tuple[int, int]:
        """Fold ``n``."""
        return threading.get_ident(), n + by

    afold = thread_twin(fold)


def test_a_sync_twin_has_the_coroutines_signature_and_docstring():
    assert inspect.signature(Reader.read) == inspect.signature(Reader.aread)
    assert not inspect.iscoroutinefunction(Reader.read)
    assert Reader.read.__name__ == "read" and Reader.read.__qualname__ == "Reader.read"
    assert Reader.read.__doc__ is not None and "More about it." in Reader.read.__doc__
    assert Reader.aread.__doc__ == (
        "Read ``name``.\n\nThe ``await`` twin of :meth:`read`, which says more.")


def test_a_sync_twin_runs_on_the_io_loop_and_warns_in_the_callers_thread():
    with pytest.warns(UserWarning, match="read from the start") as caught:
        where, name = Reader().read("x", note="read from the start")
    assert name == "x" and where == _loop.run(_thread_of_loop())
    assert where != threading.get_ident()
    assert [w.filename for w in caught] == [__file__]  # the caller's line, said in its thread


def test_the_await_twin_warns_where_it_is_awaited():
    async def main() -> None:
        with pytest.warns(UserWarning, match="late") as caught:
            await Reader().aread("x", note="late")
        assert [w.filename for w in caught] == [__file__]

    asyncio.run(main())


def test_a_task_the_call_leaves_behind_warns_where_it_runs():
    gate = threading.Event()

    class Starter:
        async def astart(self) -> None:
            """Start a task that warns later."""
            async def later() -> None:
                await asyncio.to_thread(gate.wait, 10)
                warn("said later", UserWarning)

            self.task = asyncio.get_running_loop().create_task(later())

        start = sync_twin(astart)

    async def finish(task: asyncio.Task[None]) -> None:
        await task

    starter = Starter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        starter.start()
        gate.set()
        _loop.run(finish(starter.task))
    assert [str(w.message) for w in caught] == ["said later"]  # not held for a call long gone


def test_a_failing_sync_twin_keeps_no_argument_in_its_locals():
    class Door:
        async def aopen(self, password: str) -> None:
            """Open with a password."""
            password = "(hidden)"  # noqa: F841  (what connect does with a secret)
            raise ValueError("refused")

        open = sync_twin(aopen)

    with pytest.raises(ValueError, match="refused") as info:
        Door().open("hunter2")
    frames = traceback.TracebackException.from_exception(info.value, capture_locals=True).stack
    shown = [(f.name, f.locals) for f in frames[1:]]  # (the first is this test's own)
    assert [name for name, _ in shown][:2] == ["call", "run"]  # the twin's frames, then the loop's
    assert "(hidden)" in str(shown) and "hunter2" not in str(shown)


def test_a_thread_twin_runs_on_a_worker_thread_with_the_same_signature():
    where, value = asyncio.run(Reader().afold(2, by=3))
    assert value == 5 and where != threading.get_ident()
    assert inspect.iscoroutinefunction(Reader.afold)
    assert inspect.signature(Reader.afold) == inspect.signature(Reader.fold)
    assert Reader.afold.__qualname__ == "Reader.afold"


async def _thread_of_loop() -> int:
    return threading.get_ident()
