"""NATS subject patterns: matching, overlap, and a regular expression for a set of them.

Pure text functions, shared by every layer that filters by subject.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["subject_matches", "subjects_overlap", "subjects_regex"]


def subject_matches(pattern: str, subject: str) -> bool:
    """Whether ``subject`` matches the NATS ``pattern`` (``*`` one token, ``>`` the rest).

    Examples
    --------
    >>> subject_matches("rides.*.trip_started", "rides.lisbon.trip_started")
    True
    >>> subject_matches("rides.>", "rides")
    False
    """
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


def subjects_regex(patterns: Sequence[str]) -> str:
    """An anchored regular expression for the subjects NATS ``patterns`` match.

    ``*`` matches one token, ``>`` (last) one or more.

    Examples
    --------
    >>> import re
    >>> pattern = subjects_regex(["rides.*.trip_started", "orders.>"])
    >>> [bool(re.match(pattern, s)) for s in ["rides.lisbon.trip_started", "orders.o1.paid",
    ...                                      "rides.lisbon.trip_ended", "orders"]]
    [True, True, False, False]
    """

    def one(pattern: str) -> str:
        tokens = pattern.strip().split(".")
        return r"\.".join(
            "[^.]+" if t == "*" else ".+" if t == ">" and i == len(tokens) - 1 else re.escape(t)
            for i, t in enumerate(tokens))

    return "^(?:" + "|".join(one(p) for p in patterns) + ")$"


def subjects_overlap(a: str, b: str) -> bool:
    """Whether some subject matches both patterns.

    Examples
    --------
    >>> subjects_overlap("rides.>", "rides.berlin.*"), subjects_overlap("rides.>", "orders.>")
    (True, False)
    """
    x, y = a.split("."), b.split(".")
    for i in range(max(len(x), len(y))):
        tx = x[i] if i < len(x) else None
        ty = y[i] if i < len(y) else None
        if tx == ">" or ty == ">":
            return tx is not None and ty is not None
        if tx is None or ty is None:
            return False
        if tx != ty and "*" not in (tx, ty):
            return False
    return True
