"""The one deadline loop of the tests: wait for a condition, never for a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import eventkit as ek

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 10.0, *, pause: float = 0.02) -> T:
    """``check()``'s first true result within ``timeout`` seconds.

    A check that raises ``AssertionError``, an ``EventkitError`` or ``OSError``
    (a server still starting, a file not yet written) is tried again; at the
    deadline its last error is the test's failure.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
            problem: BaseException = AssertionError(f"{check} stayed {result!r}")
        except (AssertionError, ek.EventkitError, OSError) as exc:
            problem = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {problem}") from problem
        time.sleep(pause)
