"""Twins: a call written once, and its other face (sync or ``await``) made from it.

Every blocking call of eventkit has two faces with one signature: ``read``
for a plain notebook cell and ``aread`` for ``await``. A call whose work is
on the I/O loop is written as the coroutine, and :func:`sync_twin` makes the
synchronous face, which runs it on the private I/O loop and waits::

    async def aread(self, stream: str, *, start: TimeLike | None = None) -> Events:
        '''Read part of a stream into tables. ...'''

    read = sync_twin(aread)

A call whose work is not on the loop (a replay folding events) is written as
a plain function, and :func:`thread_twin` makes its ``await`` face, which
runs it on a worker thread. Either way ``help()``, IDEs and type checkers see
the real parameters (through ``__wrapped__`` and a ``ParamSpec``); the
synchronous face has the docstring, and the ``await`` face its summary and a
pointer to the rest (so that the examples run once).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import warnings
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from eventkit.source import _loop

__all__ = ["sync_twin", "thread_twin", "warn"]

P = ParamSpec("P")
T = TypeVar("T")


class _Held:
    """What one synchronous call is to warn of when it returns."""

    def __init__(self) -> None:
        self.warnings: list[tuple[str, type[Warning]]] = []
        self.open = True  # closed when the call returns (a task it started may live on)


#: The synchronous call whose coroutine runs in this context.
_held: contextvars.ContextVar[_Held | None] = contextvars.ContextVar("eventkit_held",
                                                                     default=None)


def sync_twin(acall: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """The synchronous twin of the coroutine function ``acall`` (named without its ``a``).

    It takes what ``acall`` takes, runs it on the I/O loop and waits (an
    interrupt cancels it, see :func:`eventkit.source._loop.run`); what it
    :func:`warn`\\ s is warned in the caller's thread when it returns, so a
    notebook shows it under the cell that made the call.

    >>> class Greeter:
    ...     async def agreet(self, name: str) -> str:
    ...         "Say hello."
    ...         return f"hello {name}"
    ...     greet = sync_twin(agreet)
    >>> Greeter().greet("ada"), Greeter.greet.__qualname__, Greeter.greet.__doc__
    ('hello ada', 'Greeter.greet', 'Say hello.')
    >>> print(Greeter.agreet.__doc__)
    Say hello.
    <BLANKLINE>
    The ``await`` twin of :meth:`greet`, which says more.
    """
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        coro, held = acall(*args, **kwargs), _Held()
        del args, kwargs  # a traceback that prints locals shows no argument (a password)
        try:
            result = _loop.run(_holding(held, coro))
        finally:
            held.open = False
        for message, category in held.warnings:
            warnings.warn(message, category, stacklevel=2)
        return result

    functools.update_wrapper(call, acall)  # its signature is the coroutine's (__wrapped__)
    call.__name__ = acall.__name__.removeprefix("a")
    call.__qualname__ = acall.__qualname__.removesuffix(acall.__name__) + call.__name__
    acall.__doc__ = _pointer(acall.__doc__, call.__name__)
    return call


def thread_twin(call: Callable[P, T]) -> Callable[P, Coroutine[Any, Any, T]]:
    """The ``await`` twin of ``call`` (named with an ``a`` in front), run on a worker
    thread so that the awaiting loop stays free.

    >>> class Adder:
    ...     def add(self, a: int, b: int = 1) -> int:
    ...         "Add up."
    ...         return a + b
    ...     aadd = thread_twin(add)
    >>> import asyncio, inspect
    >>> asyncio.run(Adder().aadd(2)), list(inspect.signature(Adder.aadd).parameters)
    (3, ['self', 'a', 'b'])
    """
    async def acall(*args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(call, *args, **kwargs)

    functools.update_wrapper(acall, call)  # its signature is the call's (__wrapped__)
    acall.__name__ = "a" + call.__name__
    acall.__qualname__ = call.__qualname__.removesuffix(call.__name__) + acall.__name__
    acall.__doc__ = _pointer(call.__doc__, call.__name__)
    return acall


def _pointer(doc: str | None, name: str) -> str:
    """An ``await`` twin's docstring: the summary, and where the rest is."""
    summary = (doc or "").strip().split("\n\n")[0]
    return f"{summary}\n\nThe ``await`` twin of :meth:`{name}`, which says more."


async def _holding(held: _Held, coro: Coroutine[Any, Any, T]) -> T:
    _held.set(held)
    return await coro


def warn(message: str, category: type[Warning]) -> None:
    """Warn the caller: in its own thread if it is a synchronous twin waiting for this
    coroutine (see :func:`sync_twin`), here and now otherwise."""
    held = _held.get()
    if held is None or not held.open:
        warnings.warn(message, category, stacklevel=3)
    else:
        held.warnings.append((message, category))
