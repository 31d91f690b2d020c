"""Turn the time arguments users type into positions: pure, no I/O.

A position is either a stream sequence (``int``) or an aware UTC datetime.
"""

from __future__ import annotations

import datetime as dt
import re

from eventkit._typing import TimeLike
from eventkit.exceptions import TimeArgumentError

__all__ = ["parse_duration", "to_datetime", "to_position"]

_UNITS = {
    "ns": dt.timedelta(microseconds=0.001),
    "us": dt.timedelta(microseconds=1),
    "ms": dt.timedelta(milliseconds=1),
    "s": dt.timedelta(seconds=1),
    "m": dt.timedelta(minutes=1),
    "h": dt.timedelta(hours=1),
    "d": dt.timedelta(days=1),
    "w": dt.timedelta(weeks=1),
}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h|d|w)")


def parse_duration(text: str) -> dt.timedelta:
    """Parse a duration such as ``"15m"``, ``"1h30m"`` or ``"2d"``.

    Examples
    --------
    >>> parse_duration("1h30m")
    datetime.timedelta(seconds=5400)
    >>> parse_duration("250ms")
    datetime.timedelta(microseconds=250000)
    """
    s = text.strip().replace(" ", "")
    parts = _DURATION.findall(s)
    if not s or "".join(n + u for n, u in parts) != s:
        raise TimeArgumentError(
            f"cannot read {text!r} as a duration: use a number and a unit "
            "(ns, us, ms, s, m, h, d, w), e.g. '15m' or '1h30m'"
        )
    return sum((float(n) * _UNITS[u] for n, u in parts), dt.timedelta())


def to_datetime(value: dt.datetime | str, *, what: str = "time") -> dt.datetime:
    """An aware UTC datetime from a datetime or an ISO-8601 string.

    Naive datetimes are refused: an event store spans time zones, so say
    which one you mean.

    Examples
    --------
    >>> to_datetime("2026-11-01T12:00:00Z")
    datetime.datetime(2026, 11, 1, 12, 0, tzinfo=datetime.timezone.utc)
    >>> to_datetime("2026-11-01T13:00:00+01:00")
    datetime.datetime(2026, 11, 1, 12, 0, tzinfo=datetime.timezone.utc)
    >>> to_datetime(dt.datetime(2026, 11, 1))
    Traceback (most recent call last):
    ...
    eventkit.exceptions.TimeArgumentError: time 2026-11-01 00:00:00 has no time zone: ...
    """
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise TimeArgumentError(
                f"{what} {value!r} is not an ISO-8601 time: write e.g. "
                "'2026-11-01T12:00:00Z'"
            ) from exc
    if value.tzinfo is None or value.utcoffset() is None:
        raise TimeArgumentError(
            f"{what} {value} has no time zone: pass an aware datetime, e.g. "
            "datetime(..., tzinfo=timezone.utc), or an ISO string ending in 'Z'"
        )
    return value.astimezone(dt.UTC)


def to_position(
    value: TimeLike | None, *, now: dt.datetime | None = None, what: str = "time"
) -> int | dt.datetime | None:
    """A stream sequence (``int``) or an aware UTC datetime, from what a user typed.

    Integers (and strings of digits) are stream sequences; ``timedelta`` and
    duration strings mean that long before ``now``; everything else is a time.

    Examples
    --------
    >>> to_position(42)
    42
    >>> now = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
    >>> to_position("15m", now=now)
    datetime.datetime(2026, 11, 1, 11, 45, tzinfo=datetime.timezone.utc)
    >>> to_position("2026-11-01T10:00:00Z")
    datetime.datetime(2026, 11, 1, 10, 0, tzinfo=datetime.timezone.utc)
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise TimeArgumentError(f"{what} {value!r} is a bool, not a sequence or a time")
    if isinstance(value, int):
        if value < 0:
            raise TimeArgumentError(f"{what} sequence {value} is negative")
        return value
    now = now or dt.datetime.now(dt.UTC)
    if isinstance(value, dt.timedelta):
        return now - value
    if isinstance(value, dt.datetime):
        return to_datetime(value, what=what)
    if isinstance(value, str):
        s = value.strip()
        if s.isdigit():
            return int(s)
        if s[:1].isdigit() and not any(c in s for c in "-:T"):
            return now - parse_duration(s)
        return to_datetime(s, what=what)
    raise TimeArgumentError(
        f"{what} {value!r} ({type(value).__name__}) is not a sequence, datetime, "
        "ISO string or duration"
    )


def spoken_duration(delta: dt.timedelta) -> str:
    """A duration as a person says it, for messages.

    >>> spoken_duration(dt.timedelta(hours=50)), spoken_duration(dt.timedelta(seconds=90))
    ('2.1 days', '1.5 minutes')
    """
    seconds = delta.total_seconds()
    for unit, size in (("days", 86_400), ("hours", 3_600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} seconds"
