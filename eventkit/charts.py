"""Altair charts of events, aggregated in polars first.

Every builder takes an envelope (or typed) frame, aggregates it with the
query layer, and returns an ``alt.Chart`` the user can compose and restyle.
No chart sends more than :data:`MAX_ROWS` rows to the browser, whatever the
size of the data; when events were binned, the subtitle says so.
"""

from __future__ import annotations

import datetime as dt
import math

import altair as alt
import polars as pl

from eventkit import query
from eventkit._time import parse_duration
from eventkit._typing import TimeColumn

__all__ = ["MAX_ROWS", "rate", "to_svg", "totals", "values"]

MAX_ROWS = 5_000

_STEPS = [dt.timedelta(seconds=s) for s in (
    1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86_400, 7 * 86_400)]


def _frame(events: object) -> pl.DataFrame:
    to_polars = getattr(events, "to_polars", None)
    frame = to_polars() if callable(to_polars) else events
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    if not isinstance(frame, pl.DataFrame):
        raise TypeError(f"expected events or a polars frame, got {type(events).__name__}")
    return frame


def pick_step(start: dt.datetime, end: dt.datetime, groups: int,
              *, max_rows: int = MAX_ROWS) -> dt.timedelta:
    """The smallest round window that keeps ``windows x groups`` under ``max_rows``.

    Examples
    --------
    >>> t0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    >>> pick_step(t0, t0 + dt.timedelta(days=2), groups=8)
    datetime.timedelta(seconds=300)
    """
    span = max((end - start).total_seconds(), 1.0)
    per_group = max(max_rows // max(groups, 1), 1)
    for step in _STEPS:
        if math.ceil(span / step.total_seconds()) + 1 <= per_group:
            return step
    return dt.timedelta(seconds=math.ceil(span / per_group))


def _label(step: dt.timedelta) -> str:
    s = int(step.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if s % size == 0:
            return f"{s // size} {unit}"
    return f"{s} s"


def rate(events: object, *, on: TimeColumn = "event_time", by: str = "type",
         every: str | dt.timedelta | None = None, brush: bool = True) -> alt.Chart:
    """Events per time window, stacked by ``by`` (type by default), with an x brush.

    The window is chosen so that the chart holds at most :data:`MAX_ROWS`
    rows unless ``every`` is given.
    """
    frame = _frame(events).filter(pl.col(on).is_not_null())
    if frame.is_empty():
        return alt.Chart(pl.DataFrame({on: [], "count": []})).mark_area()
    lo, hi = frame[on].min(), frame[on].max()
    groups = frame[by].n_unique()
    if every is None:
        step = pick_step(lo, hi, groups)
    else:
        step = every if isinstance(every, dt.timedelta) else parse_duration(every)
    counts = query.windows(frame, step, by=by, on=on).select(
        "window_start", by, "count").sort("window_start", by)
    title = alt.TitleParams(
        f"Events per {_label(step)} by {by}",
        subtitle=f"{frame.height:,} events binned into {counts.height:,} rows ({on})")
    chart = alt.Chart(counts, title=title).mark_area(interpolate="step-after").encode(
        x=alt.X("window_start:T", title=on),
        y=alt.Y("count:Q", stack="zero", title="events"),
        color=alt.Color(f"{by}:N", title=by),
        tooltip=["window_start:T", f"{by}:N", "count:Q"],
    ).properties(width=640, height=220)
    if brush:
        chart = chart.add_params(alt.selection_interval(encodings=["x"], name="brush"))
    return chart


def totals(events: object, *, by: str = "type", top: int = 30) -> alt.Chart:
    """Event counts per ``by`` value (the largest ``top``), as horizontal bars."""
    frame = _frame(events)
    counts = frame.group_by(by).len("count").sort("count", descending=True).head(top)
    return alt.Chart(counts, title=f"Events by {by}").mark_bar().encode(
        x=alt.X("count:Q", title="events"),
        y=alt.Y(f"{by}:N", sort="-x", title=by),
        tooltip=[f"{by}:N", "count:Q"],
    ).properties(width=400)


def values(frame: object, field: str, *, by: str | None = None, bins: int = 40) -> alt.Chart:
    """The distribution of a numeric field (optionally one colour per ``by``), binned in polars."""
    data = _frame(frame).filter(pl.col(field).is_not_null())
    group = [by] if by else []
    lo, hi = data[field].min(), data[field].max()
    width = ((hi - lo) / bins) or 1.0  # type: ignore[operator]
    hist = (
        data.with_columns(bin_start=((pl.col(field) - lo) / width).floor().clip(0, bins - 1)
                          * width + lo)
        .group_by([*group, "bin_start"]).len("count")
        .with_columns(bin_end=pl.col("bin_start") + width)
        .sort([*group, "bin_start"])
    )
    enc = {"color": alt.Color(f"{by}:N")} if by else {}
    return alt.Chart(hist, title=f"{field}: distribution of {data.height:,} values").mark_bar(
        opacity=0.8).encode(
        x=alt.X("bin_start:Q", title=field), x2="bin_end:Q",
        y=alt.Y("count:Q", stack=None, title="events"), **enc,
        tooltip=[*[f"{g}:N" for g in group], "bin_start:Q", "bin_end:Q", "count:Q"],
    ).properties(width=400, height=200)


def to_svg(chart: alt.TopLevelMixin) -> str:
    """The chart drawn as SVG, offline (vl-convert), for pages that need no JavaScript."""
    import vl_convert as vlc

    return vlc.vegalite_to_svg(chart.to_json(), vl_version=_vl_version())


def _vl_version() -> str:
    major, minor = alt.SCHEMA_VERSION.lstrip("v").split(".")[:2]
    return f"{major}.{minor}"
