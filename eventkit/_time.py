"""Turn the time arguments users type into positions and durations: pure, no I/O.

A position is either a stream sequence (``int``) or an :class:`Instant`: a
UTC instant exact to the nanosecond, which remembers the precision it was
given at.

Times
    An aware ``datetime`` (microseconds), an ISO-8601 / RFC 3339 string with
    up to nine fraction digits, a ``pandas.Timestamp``, a
    ``numpy.datetime64`` (read as UTC, as numpy means it) or a one-value
    polars ``Series`` of datetimes: each keeps every digit it has. Naive
    datetimes are refused.

Bounds
    A time given at microsecond precision (a Python ``datetime``, or a
    ``datetime64``/``Timestamp``/polars value in ``us``) stands for its whole
    microsecond: an inclusive end ``<= T`` keeps the events in the
    nanoseconds after ``T`` up to the next microsecond, as polars'
    ``pl.col("time") <= T`` does, and an exclusive start ``> T`` skips them.
    An inclusive start ``>= T`` and an exclusive end ``< T`` begin at ``T``
    itself, so consecutive half-open intervals never share an event. Strings
    and nanosecond values are exact. Every bound of the API goes through
    :func:`cutoff`.

Durations
    One grammar everywhere (windows, sessions, ``versions_over_time``,
    ``start="15m"``, charts): a sum of integer or decimal numbers with a unit,
    ``ns``, ``us``, ``ms``, ``s``, ``m``, ``h``, ``d``, ``w``, and the calendar
    units ``mo`` (month), ``q`` (quarter, 3 months) and ``y`` (12 months),
    e.g. ``"500ns"``, ``"1h30m"``, ``"1.5s"``, ``"1mo"``. Fixed units are exact
    to the nanosecond (a decimal that does not land on a whole nanosecond is
    refused, never rounded); calendar units take whole numbers and follow the
    calendar (UTC). A ``timedelta`` is exact too.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Protocol, runtime_checkable

import polars as pl

from eventkit._typing import TimeLike
from eventkit.exceptions import TimeArgumentError

__all__ = ["TIME", "Duration", "Instant", "cutoff", "parse_duration", "to_datetime", "to_duration",
           "to_instant", "to_position"]

#: The one time type of eventkit's frames: nanoseconds, UTC (what the server stamps).
TIME = pl.Datetime("ns", "UTC")

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MIN_NS = -62_135_596_800 * 10**9                   # 0001-01-01T00:00:00Z
_MAX_NS = 253_402_300_799 * 10**9 + 999_999_999     # 9999-12-31T23:59:59.999999999Z
_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
       "h": 3_600 * 10**9, "d": 86_400 * 10**9, "w": 7 * 86_400 * 10**9}
_MONTHS = {"mo": 1, "q": 3, "y": 12}
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|ms|mo|s|m|h|d|w|q|y)")


def _timedelta_ns(value: dt.timedelta) -> int:
    return (value.days * 86_400 + value.seconds) * 10**9 + value.microseconds * 1_000


@runtime_checkable
class _PandasTimedelta(Protocol):
    """A ``pandas.Timedelta`` (a ``timedelta`` that also holds nanoseconds), told without
    importing pandas."""

    value: int


@dataclass(frozen=True, slots=True, order=True)
class Duration:
    """A length of time: whole calendar ``months`` plus an exact number of nanoseconds.

    Examples
    --------
    >>> to_duration("1h30m")
    Duration(months=0, ns=5400000000000)
    >>> to_duration("1mo").polars, to_duration("500ns").polars
    ('1mo', '500ns')
    """

    months: int = 0
    ns: int = 0

    @property
    def polars(self) -> str:
        """The same length in polars' duration language (fixed parts in ns, so a
        grid of them is anchored at the Unix epoch)."""
        sign = "-" if self.months < 0 or self.ns < 0 else ""
        parts = [f"{abs(self.months)}mo" if self.months else "",
                 f"{abs(self.ns)}ns" if self.ns else ""]
        return sign + ("".join(parts) or "0ns")

    @property
    def fixed(self) -> bool:
        """True when the length does not depend on the calendar (no months)."""
        return self.months == 0

    def to_timedelta(self) -> dt.timedelta:
        """The length as a ``timedelta`` (fixed lengths only; microseconds, floored)."""
        if self.months:
            raise TimeArgumentError(f"{self.polars} has calendar months: it has no fixed length")
        return dt.timedelta(microseconds=self.ns // 1_000)

    def __neg__(self) -> Duration:
        return Duration(-self.months, -self.ns)

    def __bool__(self) -> bool:
        return bool(self.months or self.ns)


def to_duration(value: str | dt.timedelta | Duration, *, what: str = "duration") -> Duration:
    """A :class:`Duration` from the one duration grammar (see the module docstring).

    Examples
    --------
    >>> to_duration("500ns").ns
    500
    >>> to_duration("1.5s").ns
    1500000000
    >>> to_duration("1y2q").months
    18
    >>> to_duration("1.5mo")
    Traceback (most recent call last):
    ...
    eventkit.exceptions.TimeArgumentError: duration '1.5mo': calendar units ... whole numbers
    """
    if isinstance(value, Duration):
        return value
    if (isinstance(value, dt.timedelta) and isinstance(value, _PandasTimedelta)
            and type(value).__module__.split(".")[0] == "pandas"):
        return Duration(0, int(value.value))  # a pandas.Timedelta holds nanoseconds
    if isinstance(value, dt.timedelta):
        return Duration(0, _timedelta_ns(value))
    if not isinstance(value, str):
        raise TimeArgumentError(
            f"{what} {value!r} ({type(value).__name__}) is not a duration: write e.g. '15m'")
    s = value.strip().replace(" ", "")
    parts = _DURATION.findall(s)
    if not s or "".join(n + u for n, u in parts) != s:
        raise TimeArgumentError(
            f"cannot read {value!r} as a duration: use numbers with units (ns, us, ms, s, m, "
            "h, d, w, mo, q, y), e.g. '15m', '1h30m', '500ns' or '1mo'"
        )
    months = ns = 0
    for number, unit in parts:
        if unit in _MONTHS:
            if not number.isdigit():
                raise TimeArgumentError(
                    f"{what} {value!r}: calendar units (mo, q, y) take whole numbers")
            months += int(number) * _MONTHS[unit]
            continue
        try:
            exact = Decimal(number) * _NS[unit]
        except InvalidOperation:  # pragma: no cover - the pattern admits only digits
            raise TimeArgumentError(f"cannot read {value!r} as a duration") from None
        if exact != exact.to_integral_value():
            raise TimeArgumentError(
                f"{what} {value!r} is not a whole number of nanoseconds: "
                "write it with a finer unit, e.g. '1500ns' for '1.5us'")
        ns += int(exact)
    return Duration(months, ns)


def parse_duration(text: str) -> dt.timedelta:
    """A fixed duration such as ``"15m"``, ``"1h30m"`` or ``"2d"`` as a ``timedelta``.

    ``timedelta`` holds microseconds: use :func:`to_duration` to keep
    nanoseconds or calendar months.

    Examples
    --------
    >>> parse_duration("1h30m")
    datetime.timedelta(seconds=5400)
    >>> parse_duration("250ms")
    datetime.timedelta(microseconds=250000)
    """
    return to_duration(text).to_timedelta()


@dataclass(frozen=True, slots=True, order=True)
class Instant:
    """A UTC instant exact to the nanosecond, and the precision it was given at.

    ``ns`` counts nanoseconds since the Unix epoch; ``tick`` is how many
    nanoseconds the given value stands for (1 for a nanosecond value or a
    string, 1000 for a Python ``datetime``). See :func:`cutoff`.

    Examples
    --------
    >>> t = to_instant("2026-11-01T12:00:00.000000500Z")
    >>> t.ns, t.tick
    (1793534400000000500, 1)
    >>> str(t)
    '2026-11-01T12:00:00.000000500Z'
    >>> to_instant(dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)).tick
    1000
    """

    ns: int
    tick: int = 1

    @property
    def last_ns(self) -> int:
        """The last nanosecond this instant stands for."""
        return self.ns + self.tick - 1

    def to_datetime(self) -> dt.datetime:
        """An aware UTC ``datetime`` (the microsecond this instant falls in)."""
        return _EPOCH + dt.timedelta(microseconds=self.ns // 1_000)

    def shift(self, duration: Duration, sign: int = 1) -> Instant:
        """This instant moved by ``duration`` (calendar months by the UTC calendar)."""
        try:
            return self._shift(duration, sign)
        except (OverflowError, ValueError):
            raise TimeArgumentError(
                f"{self} moved by {duration.polars} is outside the years 1 to 9999") from None

    def _shift(self, duration: Duration, sign: int) -> Instant:
        ns = self.ns + sign * duration.ns
        if not _MIN_NS <= ns <= _MAX_NS:
            raise OverflowError
        if duration.months:
            day = _EPOCH + dt.timedelta(microseconds=ns // 1_000)
            month = day.year * 12 + day.month - 1 + sign * duration.months
            year, month0 = divmod(month, 12)
            last = [31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
            moved = day.replace(year=year, month=month0 + 1, day=min(day.day, last[month0]))
            ns = _timedelta_ns(moved - _EPOCH) + ns % 1_000
        return Instant(ns, self.tick)

    def __str__(self) -> str:
        seconds, frac = divmod(self.ns, 10**9)
        try:
            w = _EPOCH + dt.timedelta(seconds=seconds)
        except OverflowError:
            return f"{self.ns} ns after 1970-01-01T00:00:00Z"
        return (f"{w.year:04d}-{w.month:02d}-{w.day:02d}T{w.hour:02d}:{w.minute:02d}:"
                f"{w.second:02d}.{frac:09d}Z")


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def cutoff(instant: Instant, op: Literal[">=", ">", "<=", "<"]) -> int:
    """The nanosecond a bound ``time op instant`` compares with: the one helper
    every time bound of eventkit goes through.

    An inclusive end (``<=``) or an exclusive start (``>``) is taken at the
    last nanosecond the instant stands for, so a bound given at microsecond
    precision covers its whole microsecond; an inclusive start (``>=``) or an
    exclusive end (``<``) at its first.

    Examples
    --------
    >>> t = to_instant(dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC))
    >>> cutoff(t, "<=") - cutoff(t, ">=")
    999
    >>> cutoff(to_instant("2026-11-01T12:00:00Z"), "<=") == t.ns
    True
    """
    return instant.last_ns if op in ("<=", ">") else instant.ns


_ISO = re.compile(
    r"^(?P<head>[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}(?::?[0-9]{2}(?::?[0-9]{2})?)?)?)"
    r"(?:[.,](?P<frac>[0-9]{1,9}))?(?P<zone>Z|z|[+-][0-9]{2}(?::?[0-9]{2})?)?$")


def _iso_ns(text: str, what: str) -> Instant:
    match = _ISO.match(text)
    value = None
    if match:
        try:
            value = dt.datetime.fromisoformat(match["head"] + (match["zone"] or "").upper())
        except ValueError:
            value = None
    if value is None:
        raise TimeArgumentError(
            f"{what} {text!r} is not an ISO-8601 time: write e.g. '2026-11-01T12:00:00Z' "
            "(up to nine fraction digits)")
    frac = int((match["frac"] or "").ljust(9, "0") or 0)  # type: ignore[index]
    return Instant(_aware_ns(value, what) + frac, 1)


def _aware_ns(value: dt.datetime, what: str) -> int:
    if value.tzinfo is None or value.utcoffset() is None:
        raise TimeArgumentError(
            f"{what} {value} has no time zone: pass an aware datetime, e.g. "
            "datetime(..., tzinfo=timezone.utc), or an ISO string ending in 'Z'"
        )
    return _timedelta_ns(value - _EPOCH)


def to_instant(value: Any, *, what: str = "time") -> Instant:
    """An :class:`Instant` from any time a user may hold, keeping its nanoseconds.

    Examples
    --------
    >>> to_instant("2026-11-01T13:00:00.123456789+01:00")
    Instant(ns=1793534400123456789, tick=1)
    >>> to_instant(dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC))
    Instant(ns=1793534400000000000, tick=1000)
    >>> to_instant(dt.datetime(2026, 11, 1))
    Traceback (most recent call last):
    ...
    eventkit.exceptions.TimeArgumentError: time 2026-11-01 00:00:00 has no time zone: ...
    """
    if isinstance(value, Instant):
        return value
    if isinstance(value, str):
        return _iso_ns(value.strip(), what)
    kind = type(value)
    module = kind.__module__.split(".")[0]
    if module == "pandas" and hasattr(value, "value") and hasattr(value, "nanosecond"):
        if value.tzinfo is None:
            _aware_ns(value, what)  # refuses it, with the reason
        if value != value:  # NaT
            raise TimeArgumentError(f"{what} is NaT: give a time")
        unit = getattr(value, "unit", "ns")
        return Instant(int(value.value), _NS.get(unit, 1))
    if isinstance(value, dt.datetime):
        return Instant(_aware_ns(value, what), 1_000)
    if module == "numpy" and kind.__name__ == "datetime64":
        import numpy as np

        if np.isnat(value):
            raise TimeArgumentError(f"{what} is NaT: give a time")
        unit, count = np.datetime_data(value.dtype)
        if unit in _NS:
            size = _NS[unit] * count
            return Instant(int(value.astype("int64")) * size, size)
        return Instant(int(value.astype("datetime64[ns]").astype("int64")), 1)
    if module == "polars":
        import polars as pl

        if isinstance(value, pl.Series) and len(value) == 1 and isinstance(
                value.dtype, pl.Datetime) and value.null_count() == 0:
            if value.dtype.time_zone is None:
                raise TimeArgumentError(
                    f"{what}: this polars datetime has no time zone: "
                    "use .dt.replace_time_zone('UTC') (or the zone it is in)")
            unit = value.dtype.time_unit or "us"
            return Instant(int(value.dt.epoch("ns")[0]), _NS[unit])
        raise TimeArgumentError(
            f"{what}: pass one polars datetime as a one-value Series, e.g. df['time'][i:i+1]")
    raise TimeArgumentError(
        f"{what} {value!r} ({kind.__name__}) is not a time: give an aware datetime, an "
        "ISO-8601 string, a pandas.Timestamp, a numpy.datetime64 or a polars datetime")


def to_datetime(value: dt.datetime | str, *, what: str = "time") -> dt.datetime:
    """An aware UTC datetime from a datetime or an ISO-8601 string (microseconds).

    Naive datetimes are refused: an event store spans time zones, so say
    which one you mean. Use :func:`to_instant` to keep nanoseconds.

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
    if isinstance(value, dt.datetime) and type(value).__module__.split(".")[0] != "pandas":
        _aware_ns(value, what)
        return value.astimezone(dt.UTC)
    return to_instant(value, what=what).to_datetime()


def _now_instant(now: dt.datetime | Instant | None) -> Instant:
    if now is None:
        return Instant(time.time_ns(), 1)
    return Instant(to_instant(now).ns, 1)


def to_position(
    value: TimeLike | None, *, now: dt.datetime | Instant | None = None, what: str = "time"
) -> int | Instant | None:
    """A stream sequence (``int``) or an :class:`Instant`, from what a user typed.

    Integers (and strings of digits) are stream sequences; ``timedelta`` and
    duration strings mean that long before ``now``; everything else is a time
    (see :func:`to_instant`).

    Examples
    --------
    >>> to_position(42)
    42
    >>> now = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
    >>> str(to_position("15m", now=now))
    '2026-11-01T11:45:00.000000000Z'
    >>> str(to_position("1mo", now=now))
    '2026-10-01T12:00:00.000000000Z'
    >>> to_position("2026-11-01T10:00:00.000000001Z")
    Instant(ns=1793527200000000001, tick=1)
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise TimeArgumentError(f"{what} {value!r} is a bool, not a sequence or a time")
    if isinstance(value, int) and type(value).__module__ == "builtins":
        if value < 0:
            raise TimeArgumentError(f"{what} sequence {value} is negative")
        return value
    if isinstance(value, dt.timedelta | Duration):
        return _now_instant(now).shift(to_duration(value), -1)
    if isinstance(value, str):
        s = value.strip()
        if s.isascii() and s.isdigit():
            return int(s)
        if s[:1].isdigit() and not any(c in s for c in "-:T"):
            return _now_instant(now).shift(to_duration(s, what=what), -1)
        return to_instant(s, what=what)
    return to_instant(value, what=what)


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
