"""Altair charts of events, aggregated in polars first.

Every builder takes events (an :class:`~eventkit.Events`, a store's frame, or
any polars frame with the envelope columns), aggregates them with polars and
the query layer, and returns an altair chart the user can compose and
restyle. No chart sends more than :data:`MAX_ROWS` rows to the browser,
whatever the size of the data; when events were binned or left out, the
chart's subtitle says so.

Builders
    :func:`rate` (events per window, stacked by type, with an x brush),
    :func:`arrivals` (events arriving now: the last minutes of server time),
    :func:`timeline` (one row per entity: its events and lifecycle),
    :func:`field_over_time` (a payload field's value over time),
    :func:`lag` (how long events took to reach the store),
    :func:`schema_versions` (each event type's payload shapes over time),
    :func:`integrity` (a store's integrity report), :func:`totals` and
    :func:`values` (counts per type; a field's distribution).

Drawing offline
    Importing this module changes nothing in altair. Altair's default
    renderer loads Vega from a CDN, which fails without internet: call
    :func:`use_offline_renderer` (or ``alt.renderers.enable("svg")``) to draw
    plain charts as static SVG rendered locally by vl-convert, or display
    ``alt.JupyterChart(chart)`` after :func:`eventkit.widgets.enable_offline`
    for an interactive chart (the widgets call it themselves).

Colours and clocks
    One type has one colour in every chart and widget (:func:`type_color`,
    keyed by the type's name, so filtering never changes it); time axes are
    UTC on the 24-hour clock (00:05, never 12:05).

Examples
--------
>>> import datetime as dt
>>> at = lambda m: dt.datetime(2026, 11, 1, 12, m, tzinfo=dt.UTC)
>>> events = pl.DataFrame({"seq": [1, 2, 3], "type": ["a", "b", "a"],
...                        "key": ["k1", "k1", "k2"], "event_time": [at(0), at(1), at(7)]})
>>> chart = rate(events, every="5m")
>>> chart.data.height, chart.title.subtitle
(3, '3 events in 3 rows (per 5 min window and type, on event_time; no bar: no event)')
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

try:
    import altair as alt
except ImportError as exc:  # the core installs without the jupyter extra
    from eventkit._deps import missing

    raise missing("altair", "eventkit.charts") from exc

from eventkit import query
from eventkit._colors import OTHER_COLOR, PALETTE, type_color
from eventkit._offline import use_offline_renderer
from eventkit._time import Duration, to_duration, to_instant
from eventkit._typing import TimeColumn
from eventkit.envelope import ENVELOPE_SCHEMA
from eventkit.exceptions import ColumnNotFoundError, ConfigurationError

if TYPE_CHECKING:
    from eventkit.store.integrity import IntegrityReport

__all__ = [
    "MAX_GROUPS",
    "MAX_ROWS",
    "OTHER_COLOR",
    "PALETTE",
    "arrivals",
    "color_scale",
    "field_over_time",
    "integrity",
    "lag",
    "pick_step",
    "rate",
    "schema_versions",
    "timeline",
    "to_svg",
    "totals",
    "type_color",
    "unit_column",
    "use_offline_renderer",
    "values",
]

#: The most rows any chart sends to the browser.
MAX_ROWS = 5_000

_STEPS = [dt.timedelta(seconds=s) for s in (
    1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86_400, 7 * 86_400)]


# -- one colour per type, everywhere ----------------------------------------------------

def color_scale(names: Sequence[str | None] | pl.Series) -> alt.Scale:
    """An altair colour scale giving each of ``names`` its :func:`type_color`.

    Examples
    --------
    >>> scale = color_scale(["b", "a", "a"])
    >>> scale.domain, scale.range == [type_color("a"), type_color("b")]
    (['a', 'b'], True)
    """
    if isinstance(names, pl.Series):  # its distinct values: a million-row list costs 0.4 s
        names = names.unique().to_list()
    domain = sorted({n for n in names if n is not None})
    return alt.Scale(domain=domain, range=[type_color(n) for n in domain])


def _color(by: str, names: pl.Series, title: str | None = None) -> alt.Color:
    return alt.Color(f"{by}:N", title=title or by, scale=color_scale(names))


# -- time axes: 24-hour clock, UTC --------------------------------------------------------

_V = "datum.value"
#: Tick labels: a date at midnight, else 00:05 (never "12:05 AM"), seconds only when needed.
TIME_LABELS = (
    f"utcFormat({_V}, utchours({_V}) == 0 && utcminutes({_V}) == 0 && utcseconds({_V}) == 0"
    f" && utcmilliseconds({_V}) == 0 ? '%b %d' : utcseconds({_V}) == 0"
    f" && utcmilliseconds({_V}) == 0 ? '%H:%M' : utcmilliseconds({_V}) == 0 ? '%H:%M:%S'"
    " : '%H:%M:%S.%L')")


def _time_x(field: str, title: str | None, *, domain: Any = None) -> alt.X:
    """A UTC time axis labelled on the 24-hour clock."""
    scale = alt.Scale(type="utc") if domain is None else alt.Scale(type="utc", domain=domain)
    return alt.X(field, title=title, scale=scale, axis=alt.Axis(labelExpr=TIME_LABELS))




# -- inputs ---------------------------------------------------------------------------


def _frame(events: object, needed: Sequence[str] = ()) -> pl.DataFrame:
    """The envelope of ``events``: anything with ``to_polars()`` (a read) or ``scan()`` (a
    store), or a polars frame."""
    to_polars = getattr(events, "to_polars", None)
    scan = getattr(events, "scan", None)
    frame = to_polars() if callable(to_polars) else scan() if callable(scan) else events
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    if not isinstance(frame, pl.DataFrame):
        raise ConfigurationError(
            f"expected events (a read, a store or a polars frame of the envelope), got "
            f"{type(events).__name__}")
    _require(frame, needed)
    return frame


def _require(frame: pl.DataFrame, needed: Sequence[str]) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ColumnNotFoundError(
            f"no column {', '.join(map(repr, missing))} in these events; columns: "
            f"{', '.join(frame.columns)}")


def _with_fields(events: object, needed: Sequence[str], *, wide: bool = False) -> pl.DataFrame:
    """A frame holding ``needed``: the envelope if it has them (and not ``wide``), else the
    payload-wide frame (``events.wide()``, where ``events`` has one)."""
    frame = _frame(events)
    to_wide = getattr(events, "wide", None)
    if (wide or any(c not in frame.columns for c in needed)) and callable(to_wide):
        frame = to_wide()
    _require(frame, needed)
    return frame


# -- windows --------------------------------------------------------------------------


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


def _label(step: dt.timedelta | Duration) -> str:
    length = to_duration(step)
    months = f"{length.months} mo" if length.months else ""
    if not length.ns:
        return months
    for unit, size in (("d", 86_400 * 10**9), ("h", 3_600 * 10**9), ("min", 60 * 10**9),
                       ("s", 10**9), ("ms", 10**6), ("us", 10**3)):
        if length.ns % size == 0:
            return f"{months} {length.ns // size} {unit}".strip()
    return f"{months} {length.ns} ns".strip()


def _step(frame: pl.DataFrame, on: str, groups: int,
          every: str | dt.timedelta | Duration | None, max_rows: int) -> dt.timedelta | Duration:
    """The window length: ``every`` in the one duration grammar, or one picked to fit."""
    if every is not None:
        length = to_duration(every, what="every")
        exact = length.fixed and length.ns % 1_000 == 0
        return length.to_timedelta() if exact else length
    return pick_step(frame[on].min(), frame[on].max(), groups,  # type: ignore[arg-type]
                     max_rows=max_rows)


#: How a chart or widget title names each clock.
CLOCKS = {"event_time": "event time (when it happened)",
          "time": "server time (when it was stored)"}


def clock_name(on: str) -> str:
    """The words a title uses for the clock ``on``.

    >>> clock_name("event_time")
    'event time (when it happened)'
    """
    return CLOCKS.get(on, on)


def _title(text: str, subtitle: str) -> alt.TitleParams:
    return alt.TitleParams(text, subtitle=subtitle, anchor="start")


def _utc_ms(value: dt.datetime) -> alt.DateTime:
    value = value.astimezone(dt.UTC)
    return alt.DateTime(year=value.year, month=value.month, date=value.day, hours=value.hour,
                        minutes=value.minute, seconds=value.second,
                        milliseconds=value.microsecond // 1000, utc=True)


#: The most groups (colours) a chart keeps; the rest are drawn as one "(other)".
MAX_GROUPS = 20


def _top_groups(frame: pl.DataFrame, by: str, keep: int = MAX_GROUPS) -> tuple[pl.DataFrame, str]:
    """``frame`` with all but the ``keep - 1`` largest ``by`` groups renamed "(other)".

    Returns the frame and a note for the subtitle ("" when nothing was lumped).
    """
    sizes = frame.group_by(by).len().sort(["len", by], descending=[True, False])
    if sizes.height <= keep:
        return frame, ""
    kept = sizes[by].head(keep - 1)
    lumped = frame.with_columns(
        pl.when(pl.col(by).is_in(kept.implode())).then(pl.col(by).cast(pl.String))
        .otherwise(pl.lit("(other)")).alias(by))
    return lumped, f"; {sizes.height - keep + 1:,} smaller {by} groups drawn as (other)"


def _empty(title: str) -> alt.Chart:
    chart: alt.Chart = alt.Chart(pl.DataFrame({"x": []}),
                                 title=_title(title, "no events")).mark_point()
    return chart


def _stacked(counts: pl.DataFrame, by: str) -> pl.DataFrame:
    """``counts`` with ``bottom`` and ``top``: each group's bar stacked from zero, per window.

    Stacking is done here, not by Vega-Lite (which does not stack bars that
    have an ``x2``, and draws each as a sliver floating at its count).
    """
    top = pl.col("count").cast(pl.Int64).cum_sum().over("window_start", order_by=by)
    return counts.sort("window_start", by).with_columns(
        top.alias("top")).with_columns((pl.col("top") - pl.col("count")).alias("bottom"))


# -- builders -------------------------------------------------------------------------


def rate(events: object, *, on: TimeColumn = "event_time", by: str = "type",
         every: str | dt.timedelta | None = None, brush: bool = True,
         brush_range: tuple[dt.datetime, dt.datetime] | None = None,
         domain: tuple[dt.datetime, dt.datetime] | None = None,
         max_rows: int = MAX_ROWS, width: int = 640, height: int = 220) -> alt.Chart:
    """Events per time window, stacked by ``by`` (type by default), with an x brush.

    Parameters
    ----------
    events
        Events, or a frame with the ``on`` and ``by`` columns.
    on
        The clock: ``"event_time"`` (when it happened) or ``"time"`` (stored).
    by
        The column the areas are stacked by.
    every
        The window; by default the smallest round window that keeps the chart
        under ``max_rows`` rows.
    brush
        Add an interval selection named ``"brush"`` on the x axis.
    brush_range
        Where the brush starts (two aware datetimes).
    domain
        The x axis's span (two aware datetimes), by default the events'. A
        widget keeps it fixed while its filters change, so neither the axis
        nor a brush on it moves.
    max_rows
        At most this many rows go to the browser (at most :data:`MAX_ROWS`).

    Returns
    -------
    alt.Chart
        Stacked bars, one per window and group with events (a window without
        events has no bar): ``window_start, window_end, <by>, count`` rows,
        and ``bottom``/``top``, where each bar is stacked (from zero).

    Examples
    --------
    >>> at = lambda m: dt.datetime(2026, 11, 1, 12, m, tzinfo=dt.UTC)
    >>> events = pl.DataFrame({"type": ["a", "b", "a"], "event_time": [at(0), at(1), at(7)]})
    >>> rate(events, every="5m").data.select("window_start", "type", "count").rows()
    ... # doctest: +NORMALIZE_WHITESPACE
    [(datetime.datetime(2026, 11, 1, 12, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')), 'a', 1),
     (datetime.datetime(2026, 11, 1, 12, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')), 'b', 1),
     (datetime.datetime(2026, 11, 1, 12, 5, tzinfo=zoneinfo.ZoneInfo(key='UTC')), 'a', 1)]
    """
    max_rows = min(max_rows, MAX_ROWS)
    frame = _frame(events, [on, by]).filter(pl.col(on).is_not_null())
    if frame.is_empty():
        return _empty(f"Events by {by}")
    frame, lumped = _top_groups(frame, by)
    groups = frame[by].n_unique()
    # at most one window per 2 pixels: a bar stays visible (unless ``every`` says otherwise)
    fit = min(max_rows, groups * max(width // 2, 1))
    step = (_step(frame, on, groups, every, fit) if domain is None or every is not None
            else pick_step(domain[0], domain[1], groups, max_rows=fit))
    counts = query.windows(frame, step, by=by, on=on).select(
        "window_start", "window_end", by, "count").sort("window_start", by)
    if counts.height > max_rows:  # an ``every`` too fine for the data: coarsen it
        step = pick_step(frame[on].min(), frame[on].max(), groups,  # type: ignore[arg-type]
                         max_rows=max_rows)
        counts = query.windows(frame, step, by=by, on=on).select(
            "window_start", "window_end", by, "count").sort("window_start", by)
    counts = _stacked(counts, by)
    title = _title(f"Events per {_label(step)} by {by}, on {clock_name(on)}",
                   f"{frame.height:,} events in {counts.height:,} rows "
                   f"(per {_label(step)} window and {by}, on {on}; no bar: no event){lumped}")
    span = None if domain is None else [_utc_ms(domain[0]), _utc_ms(domain[1])]
    chart = _stacked_bars(counts, by, title, x_title=f"{on} (UTC)", domain=span,
                          tooltip=("window (UTC)", "%Y-%m-%d %H:%M:%S"), size=(width, height))
    if brush:
        value = None
        if brush_range is not None and None not in brush_range:
            value = {"x": [_utc_ms(brush_range[0]), _utc_ms(brush_range[1])]}
        selection = (alt.selection_interval(encodings=["x"], name="brush",
                                            value=value)  # type: ignore[arg-type]
                     if value else alt.selection_interval(encodings=["x"], name="brush"))
        chart = chart.add_params(selection)
    return chart


def arrivals(events: object, *, last: str | dt.timedelta = "2m",
             every: str | dt.timedelta | None = None, by: str = "type",
             max_rows: int = MAX_ROWS, width: int = 640, height: int = 160) -> alt.Chart:
    """Events per window of server time (``time``) over the ``last`` minutes: a live view.

    The x axis ends at the newest event and spans ``last``, so bursts and
    silences show as they happened; bars are stacked by ``by``.

    Examples
    --------
    >>> at = lambda s: dt.datetime(2026, 11, 1, 12, 0, s, tzinfo=dt.UTC)
    >>> events = pl.DataFrame({"type": ["a", "b", "a"], "time": [at(0), at(1), at(59)]})
    >>> arrivals(events, last="30s", every="1s").data.select("type", "count").rows()
    [('a', 1)]
    """
    max_rows = min(max_rows, MAX_ROWS)
    frame = _frame(events, ["time", by]).filter(pl.col("time").is_not_null())
    if frame.is_empty():
        return _empty("Arrivals")
    length = to_duration(last, what="last")
    end: dt.datetime = frame["time"].max()  # type: ignore[assignment]
    start = to_instant(frame["time"].tail(1)).shift(length, -1).to_datetime()
    span = end - start
    recent, lumped = _top_groups(frame.filter(pl.col("time") > start), by)
    groups = recent[by].n_unique()
    if every is not None:
        step = _step(recent, "time", groups, every, max_rows)
    else:  # about 30 bars across, and never more than max_rows rows
        step = next((s for s in _STEPS if s * 30 >= span), _STEPS[-1])
        step = max(step, pick_step(start, end, groups, max_rows=max_rows))
    counts = _stacked(query.windows(recent, step, by=by, on="time").select(
        "window_start", "window_end", by, "count"), by)
    after = (end + step if isinstance(step, dt.timedelta)
             else to_instant(frame["time"].tail(1)).shift(step).to_datetime())
    domain = [_utc_ms(start), _utc_ms(after)]
    title = _title(
        f"Arrivals per {_label(step)}, the last {_label(length)}, on {clock_name('time')}",
        f"{recent.height:,} events in {counts.height:,} rows (on time, by {by}){lumped}")
    return _stacked_bars(counts, by, title, x_title="time (UTC)", domain=domain,
                         tooltip=("from (UTC)", "%H:%M:%S"), size=(width, height))


def _stacked_bars(counts: pl.DataFrame, by: str, title: Any, *, x_title: str, domain: Any,
                  tooltip: tuple[str, str], size: tuple[int, int]) -> alt.Chart:
    """Bars of counts per window, stacked by ``by`` (``counts`` from :func:`_stacked`)."""
    chart: alt.Chart = alt.Chart(counts, title=title).mark_bar().encode(
        x=_time_x("window_start:T", x_title, domain=domain), x2="window_end:T",
        y=alt.Y("top:Q", title="events", scale=alt.Scale(zero=True, domainMin=0)),
        y2="bottom:Q",
        color=_color(by, counts[by]),
        tooltip=[alt.Tooltip("window_start:T", title=tooltip[0], format=tooltip[1]),
                 f"{by}:N", "count:Q"],
    ).properties(width=size[0], height=size[1])
    return chart


def totals(events: object, *, by: str = "type", top: int = 30) -> alt.Chart:
    """Event counts per ``by`` value (the largest ``top``), as horizontal bars.

    Examples
    --------
    >>> totals(pl.DataFrame({"type": ["a", "b", "a"]})).data.rows()
    [('a', 2), ('b', 1)]
    """
    frame = _frame(events, [by])
    counts = (frame.group_by(by).len("count").sort(["count", by], descending=[True, False])
              .head(min(top, MAX_ROWS)))
    drawn: alt.Chart = alt.Chart(counts, title=f"Events by {by}").mark_bar().encode(
        x=alt.X("count:Q", title="events"),
        y=alt.Y(f"{by}:N", sort="-x", title=by),
        tooltip=[f"{by}:N", "count:Q"],
    ).properties(width=400)
    return drawn


#: Columns that give a field's unit, tried in order (``{field}`` is the field's name).
UNIT_COLUMNS = ("{field}_unit", "{field}_currency", "unit", "currency")
#: At most this many units get a chart each; the rest are left out (the title says so).
MAX_UNITS = 6


def unit_column(frame: pl.DataFrame, field: str) -> str | None:
    """The column beside ``field`` that says its unit or currency, if the frame has one.

    Examples
    --------
    >>> unit_column(pl.DataFrame({"fare": [1.0], "currency": ["EUR"]}), "fare")
    'currency'
    >>> unit_column(pl.DataFrame({"fare": [1.0]}), "fare") is None
    True
    """
    for pattern in UNIT_COLUMNS:
        name = pattern.format(field=field)
        if name != field and name in frame.columns and frame[name].dtype == pl.String \
                and frame[name].null_count() < frame.height:
            return name
    return None


def _per_unit(data: pl.DataFrame, field: str, by: str | None, title: str,
              build: Any) -> alt.VConcatChart | None:
    """One chart per unit of ``field`` (a currency column beside a fare), stacked, or None.

    Values in different units never share an axis: each chart's axis says its unit.
    """
    unit = unit_column(data, field)
    if unit is None or unit == by:
        return None
    data = data.with_columns(pl.col(unit).fill_null("unit unknown"))
    units = (data.group_by(unit).len().sort(["len", unit], descending=[True, False])[unit]
             .to_list())
    kept = units[:MAX_UNITS]
    parts = [build(data.filter(pl.col(unit) == u), f"{field} ({u})", len(kept)) for u in kept]
    left = f"; {len(units) - MAX_UNITS} more units left out" if len(units) > MAX_UNITS else ""
    # each chart keeps its own colour scale (and legend): a shared one would take the union
    # of the charts' groups but the colours of one chart's, and draw a group in another's
    stacked: alt.VConcatChart = alt.vconcat(*parts, title=_title(
        title, f"split by {unit}: values in different units never share an axis{left}"),
    ).resolve_scale(color="independent")
    return stacked


def values(frame: object, field: str, *, by: str | None = None, bins: int = 40,
           unit: str | None = None) -> alt.Chart | alt.VConcatChart:
    """The distribution of a numeric field (one colour per ``by``), binned in polars.

    When a column beside the field says its unit or currency
    (:func:`unit_column`: ``currency`` beside ``fare``), there is one chart
    per unit, each axis naming its unit.

    Examples
    --------
    >>> values(pl.DataFrame({"fare": [1.0, 2.0, 2.5, 9.0]}), "fare", bins=4).data["count"].sum()
    4
    >>> fares = pl.DataFrame({"fare": [1.0, 2.0, 90.0], "currency": ["EUR", "EUR", "PLN"]})
    >>> [c.to_dict()["encoding"]["x"]["title"] for c in values(fares, "fare").vconcat]
    ['fare (EUR)', 'fare (PLN)']
    """
    data = _with_fields(frame, [field, *([by] if by else [])]).filter(
        pl.col(field).is_not_null())
    group = [by] if by else []
    if data.is_empty():
        return _empty(f"{field}: distribution")
    if unit is None:
        split = _per_unit(data, field, by, f"{field}: distribution of {data.height:,} values",
                          lambda part, axis, _: values(part, field, by=by, bins=bins,
                                                          unit=axis))
        if split is not None:
            return split
    if by:
        data, _ = _top_groups(data, by)
        bins = max(1, min(bins, MAX_ROWS // max(data[by].n_unique(), 1)))
    lo, hi = data[field].min(), data[field].max()
    width = ((hi - lo) / bins) or 1.0  # type: ignore[operator]
    hist = (
        data.with_columns(bin_start=((pl.col(field) - lo) / width).floor().clip(0, bins - 1)
                          * width + lo)
        .group_by([*group, "bin_start"]).len("count")
        .with_columns(bin_end=pl.col("bin_start") + width)
        .sort([*group, "bin_start"])
    )
    enc = {"color": _color(by, hist[by])} if by else {}
    drawn: alt.Chart = alt.Chart(
        hist, title=f"{unit or field}: distribution of {data.height:,} values",
    ).mark_bar(opacity=0.8).encode(
        x=alt.X("bin_start:Q", title=unit or field), x2="bin_end:Q",
        y=alt.Y("count:Q", stack=None, title="events"), y2=alt.datum(0), **enc,
        tooltip=[*[f"{g}:N" for g in group], "bin_start:Q", "bin_end:Q", "count:Q"],
    ).properties(width=400, height=200)
    return drawn


def timeline(events: object, keys: Sequence[str] | None = None, *, limit: int = 30,
             on: TimeColumn = "event_time", max_rows: int = MAX_ROWS,
             width: int = 640) -> alt.LayerChart | alt.Chart:
    """One row per entity: a bar from its first to its last event, and its events as marks.

    Parameters
    ----------
    events
        Events, or a frame with ``key``, ``type``, ``seq`` and the ``on`` column.
    keys
        The entities to draw; by default the first ``limit`` in stream order.
    limit
        At most this many entities (rows).
    on
        The clock events are placed on.
    max_rows
        If the entities have more events than this, events of one type in the
        same window are drawn as one mark (the subtitle says so).

    Returns
    -------
    alt.LayerChart
        A rule per entity (``first``..``last``, coloured by its last event's
        type) under a point per event (coloured by type).

    Examples
    --------
    >>> at = lambda m: dt.datetime(2026, 11, 1, 12, m, tzinfo=dt.UTC)
    >>> events = pl.DataFrame({"seq": [1, 2, 3, 4], "type": ["a", "a", "b", "c"],
    ...     "key": ["r1", "r2", "r1", "r1"], "event_time": [at(0), at(1), at(4), at(9)]})
    >>> chart = timeline(events)
    >>> chart.layer[0].data.select("key", "events", "state").rows()
    [('r1', 3, 'c'), ('r2', 1, 'a')]
    """
    max_rows = min(max_rows, MAX_ROWS)
    limit = min(limit, max_rows // 2)
    frame = _frame(events, [on, "key"]).filter(pl.col(on).is_not_null()
                                              & pl.col("key").is_not_null())
    entities = frame["key"].n_unique()
    if keys is None:
        chosen = frame["key"].unique(maintain_order=True).head(limit)
    else:
        chosen = pl.Series("key", list(keys), dtype=pl.String).head(limit)
    picked = frame.filter(pl.col("key").is_in(chosen.implode())).select("seq", "key", "type", on)
    if picked.is_empty():
        return _empty("Entity timeline")
    lives = (picked.group_by("key").agg(first=pl.col(on).min(), last=pl.col(on).max(),
                                        events=pl.len(), state=pl.col("type").sort_by("seq").last())
             .sort("first"))
    marks, note = picked, f"{picked.height:,} events"
    budget = max_rows - lives.height
    if picked.height > budget:
        lo, hi = picked[on].min(), picked[on].max()
        step = pick_step(lo, hi, lives.height * picked["type"].n_unique(),  # type: ignore[arg-type]
                         max_rows=budget)
        by = ["key", "type"]
        while True:
            marks = query.windows(picked, step, by=by, on=on)
            if marks.height <= budget:
                break
            if step > hi - lo:  # type: ignore[operator]
                if by == ["key"]:
                    break
                by = ["key"]  # one mark per entity and window, whatever the types
            step *= 2
        marks = marks.select(pl.col("window_start").alias(on), "key",
                             pl.col("type") if "type" in by else pl.lit("(several)").alias("type"),
                             "count")
        note = (f"{picked.height:,} events binned into {marks.height:,} marks "
                f"(per {_label(step)}, {' and '.join(by)})")
    shown = f"{lives.height:,} of {entities:,} entities" if keys is None else \
        f"{lives.height:,} entities"
    order = lives["key"].to_list()
    y = alt.Y("key:N", sort=order, title=None)
    colors = color_scale(pl.concat([picked["type"], lives["state"]]))
    rule = alt.Chart(lives).mark_rule(strokeWidth=3, opacity=0.35).encode(
        x=_time_x("first:T", f"{on} (UTC)"), x2="last:T", y=y,
        color=alt.Color("state:N", title="type", scale=colors),
        tooltip=["key:N", alt.Tooltip("first:T", format="%Y-%m-%d %H:%M:%S"),
                 alt.Tooltip("last:T", format="%Y-%m-%d %H:%M:%S"), "events:Q",
                 alt.Tooltip("state:N", title="last event")],
    )
    tip = ["key:N", "type:N", alt.Tooltip(f"{on}:T", format="%Y-%m-%d %H:%M:%S.%L")]
    points = alt.Chart(marks).mark_point(filled=True, size=45).encode(
        x=_time_x(f"{on}:T", f"{on} (UTC)"), y=y,
        color=alt.Color("type:N", title="type", scale=colors),
        tooltip=[*tip, "count:Q"] if "count" in marks.columns else [*tip, "seq:Q"],
    )
    layered = alt.layer(rule, points, title=_title(f"Entity timeline, on {clock_name(on)}",
                                                   f"{shown}; {note}"))
    return layered.properties(width=width,  # type: ignore[return-value]
                              height=max(14 * lives.height, 60))


def field_over_time(events: object, field: str, *, event_type: str | None = None,
                    on: TimeColumn = "event_time", by: str | None = None,
                    every: str | dt.timedelta | None = None, max_points: int = 1_000,
                    max_rows: int = MAX_ROWS, width: int = 640, unit: str | None = None,
                    ) -> alt.LayerChart | alt.Chart | alt.VConcatChart:
    """A payload field's value over time: every value, or its mean and range per window.

    When a column beside the field says its unit or currency
    (:func:`unit_column`), there is one chart per unit, each y axis naming
    its unit: EUR and PLN never share an axis.

    Parameters
    ----------
    events
        Events (their payload-wide table is used), or a typed frame.
    field
        A numeric payload column, e.g. ``"fare"``.
    event_type
        Only events of this type.
    by
        One line (colour) per value of this column, e.g. ``"type"``.
    every
        Bin per this window (by default only when there are more than
        ``max_points`` values, with a window that keeps at most ``max_rows`` rows).
    max_points
        Draw every value as a point up to this many (points are heavy in a
        saved notebook: about 300 bytes each as SVG).

    Returns
    -------
    alt.Chart
        Points (``<on>, <field>``) when unbinned; otherwise a line of the mean
        and a band from min to max per window (``window_start, mean, min,
        max, count``), the subtitle saying so.

    Examples
    --------
    >>> at = lambda m: dt.datetime(2026, 11, 1, 12, m, tzinfo=dt.UTC)
    >>> events = pl.DataFrame({"type": ["t"] * 3, "event_time": [at(0), at(1), at(7)],
    ...                        "fare": [10.0, 12.0, 8.0]})
    >>> field_over_time(events, "fare").data.height
    3
    >>> field_over_time(events, "fare", every="5m").data.select("mean", "count").rows()
    [(11.0, 2), (8.0, 1)]
    """
    max_rows = min(max_rows, MAX_ROWS)
    frame = _with_fields(events, [field, on, "type", *([by] if by else [])])
    if event_type is not None:
        frame = frame.filter(pl.col("type") == event_type)
    frame = frame.filter(pl.col(field).is_not_null() & pl.col(on).is_not_null())
    what = field if event_type is None else f"{event_type}.{field}"
    if frame.is_empty():
        return _empty(f"{what} over time")
    if unit is None:
        split = _per_unit(frame, field, by, f"{what} over time, on {clock_name(on)}",
                          lambda part, axis, parts: field_over_time(
                              part, field, on=on, by=by, every=every, max_points=max_points,
                              max_rows=max_rows // parts, width=width, unit=axis))
        if split is not None:
            return split
    group = [by] if by else []
    color = {"color": _color(by, frame[by])} if by else {}
    x_title = f"{on} (UTC)"
    y_title = unit or field
    if every is None and frame.height <= min(max_points, max_rows):
        data = frame.select(on, field, *group).sort(on)
        drawn: alt.Chart = alt.Chart(data, title=_title(f"{what} over time, on {clock_name(on)}",
                                            f"{frame.height:,} values")
                         ).mark_point(size=12, filled=True).encode(
            x=_time_x(f"{on}:T", x_title), y=alt.Y(f"{field}:Q", title=y_title), **color,
            tooltip=[alt.Tooltip(f"{on}:T", format="%Y-%m-%d %H:%M:%S"), f"{field}:Q", *group],
        ).properties(width=width, height=220)
        return drawn
    groups = frame[by].n_unique() if by else 1
    step = _step(frame, on, groups, every, max_rows)
    data = query.windows(frame, step, by=group or None, on=on, aggs={
        "mean": pl.col(field).mean(), "min": pl.col(field).min(), "max": pl.col(field).max(),
    }).select("window_start", *group, "mean", "min", "max", "count").head(max_rows)
    base = alt.Chart(data)
    title = _title(f"{what} over time, on {clock_name(on)}",
                   f"{frame.height:,} values binned into {data.height:,} rows "
                   f"(per {_label(step)}: mean, band from min to max)")
    x = _time_x("window_start:T", x_title)
    band = base.mark_area(opacity=0.25).encode(x=x, y=alt.Y("min:Q", title=y_title), y2="max:Q",
                                               **color)
    line = base.mark_line().encode(
        x=x, y="mean:Q", **color,
        tooltip=[alt.Tooltip("window_start:T", format="%Y-%m-%d %H:%M"), *group,
                 alt.Tooltip("mean:Q", format=".4~f"), "min:Q", "max:Q", "count:Q"])
    return alt.layer(band, line, title=title).properties(  # type: ignore[return-value]
        width=width, height=220)


def lag(events: object, *, every: str | dt.timedelta | None = None,
        max_rows: int = MAX_ROWS, windows: int = 120, width: int = 640) -> alt.LayerChart:
    """How long events took from ``event_time`` to the server (``time``), per window.

    The lag of an event is ``time - event_time``: negative when a producer's
    clock runs ahead of the server's. Per window of event time: the median,
    the 95th percentile and the maximum lag, in seconds; binned always, into
    about ``windows`` windows (a line per statistic stays readable), on a
    symlog axis whose ticks are round durations (1 s, 10 s, 1 min...).

    Examples
    --------
    >>> at = lambda s: dt.datetime(2026, 11, 1, 12, 0, s, tzinfo=dt.UTC)
    >>> events = pl.DataFrame({"time": [at(1), at(3), at(59)],
    ...                        "event_time": [at(0), at(1), at(2)]})
    >>> lag(events, every="1m").data.select("statistic", "lag_s", "count").rows()
    [('p50', 2.0, 3), ('p95', 57.0, 3), ('max', 57.0, 3)]
    """
    max_rows = min(max_rows, MAX_ROWS, 3 * max(windows, 1))
    frame = _frame(events, ["event_time", "time"]).filter(pl.col("event_time").is_not_null())
    if frame.is_empty():
        return _empty("Lag from event time to the store")  # type: ignore[return-value]
    seconds = (pl.col("time") - pl.col("event_time")).dt.total_microseconds() / 1e6
    frame = frame.select("event_time", seconds.alias("lag_s"))
    step = _step(frame, "event_time", 3, every, max_rows)
    data = query.windows(frame, step, on="event_time", aggs={
        "p50": pl.col("lag_s").median(), "p95": pl.col("lag_s").quantile(0.95),
        "max": pl.col("lag_s").max()}).select("window_start", "window_end", "p50", "p95",
                                              "max", "count")
    long = data.unpivot(["p50", "p95", "max"], index=["window_start", "window_end", "count"],
                        variable_name="statistic", value_name="lag_s")
    lo, hi = float(long["lag_s"].min()), float(long["lag_s"].max())  # type: ignore[arg-type]
    ticks = [t for t in _LAG_TICKS if t <= max(hi, 1.0)]  # the axis starts at 0 (or below)
    ticks = [-t for t in reversed(ticks) if t > 0 and -t >= lo] + ticks
    labels = " : ".join(f"datum.value == {t} ? '{_seconds_label(t)}'" for t in ticks)
    y = alt.Y("lag_s:Q", title="lag from event time to the store (symlog scale)",
              scale=alt.Scale(type="symlog", domain=[min(lo, 0.0), max(hi, 1.0)], nice=False),
              axis=alt.Axis(values=ticks, labelExpr=f"{labels} : format(datum.value, '~s')"))
    color = alt.Color("statistic:N", sort=["p50", "p95", "max"], title="lag",
                      scale=alt.Scale(domain=["p50", "p95", "max"],
                                      range=["#1f77b4", "#ff7f0e", "#d62728"]))
    x = _time_x("window_start:T", "event_time (UTC)")
    tip = [alt.Tooltip("window_start:T", title="window (UTC)", format="%Y-%m-%d %H:%M"),
           "statistic:N", alt.Tooltip("lag_s:Q", title="lag (s)", format=".3~f"), "count:Q"]
    base = alt.Chart(long)
    lines = base.transform_filter("datum.statistic != 'max'").mark_line(
        interpolate="step-after", strokeWidth=1.5).encode(x=x, y=y, color=color, tooltip=tip)
    peaks = base.transform_filter("datum.statistic == 'max'").mark_tick(
        thickness=1, size=5, opacity=0.6).encode(x=x, y=y, color=color, tooltip=tip)
    return alt.LayerChart(layer=[lines, peaks], title=_title(
        f"Lag from event time to the store, on {clock_name('event_time')}",
        f"{frame.height:,} events binned into {data.height:,} windows of {_label(step)} "
        "(time - event_time: median and p95 as lines, max as ticks)"),
    ).properties(width=width, height=240)


_LAG_TICKS = (0.0, 1.0, 10.0, 60.0, 600.0, 3600.0, 6 * 3600.0, 86_400.0, 7 * 86_400.0,
              30 * 86_400.0, 365 * 86_400.0)


def _seconds_label(seconds: float) -> str:
    size = abs(seconds)
    sign = "-" if seconds < 0 else ""
    for unit, length in (("d", 86_400), ("h", 3600), ("min", 60), ("s", 1)):
        if size >= length:
            return f"{sign}{size / length:g} {unit}"
    return f"{sign}{size:g} s"


def schema_versions(events: object, *, version_field: str = "schema_version",
                    on: TimeColumn = "event_time", width: int = 640) -> alt.Chart:
    """Each event type's payload versions, and when each was seen first and last.

    A version is the ``version_field`` value where the payload has one, and
    otherwise the set of fields present. Events whose payload did not decode
    are left out.

    Returns
    -------
    alt.Chart
        One bar per type and version (``type, version, fields, first, last,
        events``), from its first to its last ``on`` time.

    Examples
    --------
    >>> at = lambda m: dt.datetime(2026, 11, 1, 12, m, tzinfo=dt.UTC)
    >>> events = pl.DataFrame({
    ...     "seq": [1, 2, 3], "type": ["paid"] * 3, "event_time": [at(0), at(5), at(9)],
    ...     "amount": [1.5, None, None], "amount_cents": [None, 250, 300],
    ...     "schema_version": [None, 2, 2]})
    >>> schema_versions(events).data.select("type", "version", "fields", "events").rows()
    [('paid', 'v1', 'amount', 1), ('paid', 'v2', 'amount_cents, schema_version', 2)]
    """
    frame = _with_fields(events, ["type", on, "seq"], wide=True)
    if "error" in frame.columns:
        frame = frame.filter(pl.col("error").is_null())
    frame = frame.filter(pl.col(on).is_not_null())
    payload = [c for c in frame.columns if c not in ENVELOPE_SCHEMA and c != "payload"]
    if frame.is_empty():
        return _empty("Schema versions")
    present = [pl.when(pl.col(c).is_not_null()).then(pl.lit(c)) for c in payload]
    fields = (pl.concat_str(present, separator=", ", ignore_nulls=True) if present
              else pl.lit(""))
    explicit = (pl.col(version_field).cast(pl.String) if version_field in frame.columns
                else pl.lit(None, pl.String))
    shapes = (
        frame.select("seq", "type", on, fields.alias("fields"), explicit.alias("explicit"))
        .group_by("type", "explicit", "fields")
        .agg(first=pl.col(on).min(), last=pl.col(on).max(), events=pl.len(),
             first_seq=pl.col("seq").min())
        .sort("type", "first_seq")
        .with_columns(n=pl.int_range(1, pl.len() + 1).over("type"))
        .with_columns(version=pl.when(pl.col("explicit").is_not_null())
                      .then(pl.format("v{}", "explicit")).otherwise(pl.format("v{}", "n")))
        .select("type", "version", "fields", "first", "last", "events")
        .head(MAX_ROWS)
    )
    multi = shapes.group_by("type").len().filter(pl.col("len") > 1).height
    drawn: alt.Chart = alt.Chart(shapes, title=_title(
        f"Schema versions over time, on {clock_name(on)}",
        f"{frame.height:,} events: {shapes.height:,} versions of {shapes['type'].n_unique():,} "
        f"types, {multi:,} with more than one (a version: '{version_field}', else the "
        "fields present)")).mark_bar(height={"band": 0.8}).encode(
        x=_time_x("first:T", f"{on} (UTC)"), x2="last:T",
        y=alt.Y("type:N", title=None), yOffset="version:N", color="version:N",
        tooltip=["type:N", "version:N", "fields:N", "events:Q",
                 alt.Tooltip("first:T", format="%Y-%m-%d %H:%M:%S"),
                 alt.Tooltip("last:T", format="%Y-%m-%d %H:%M:%S")],
    ).properties(width=width, height=24 * shapes.height + 10)
    return drawn


def integrity(report: IntegrityReport, *, bins: int = 30) -> alt.HConcatChart | alt.Chart:
    """An integrity report (:meth:`eventkit.Store.integrity`) as a chart.

    Left: how many events each finding concerns (missing from the store,
    gaps by reason, duplicate ``Nats-Msg-Id``, malformed, late, kept after the
    stream dropped them, not synced yet); right, if any event is late: how
    late, binned.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> empty = pl.DataFrame({"messages": [], "reason": []}, schema={"messages": pl.UInt64,
    ...                      "reason": pl.String})
    >>> report = NS(missing=0, kept=0, behind=3, gaps=empty, stream="RIDES",
    ...     duplicates=pl.DataFrame({"events": [2]}), malformed=pl.DataFrame({"seq": [4, 9]}),
    ...     late=pl.DataFrame({"lateness": []}, schema={"lateness": pl.Duration("ns")}))
    >>> integrity(report).data.filter(pl.col("events") > 0).rows()
    [('duplicate Nats-Msg-Id', 2, 'odd'), ('malformed', 2, 'odd'), ('not synced yet', 3, 'info')]
    """
    rows: list[tuple[str, int, str]] = []
    if report.missing is not None:
        rows.append(("missing from the store", int(report.missing), "problem"))
    gaps = report.gaps
    if gaps.height:
        for reason, n in gaps.group_by("reason", maintain_order=True).agg(
                pl.col("messages").sum()).iter_rows():
            rows.append((f"gap: {reason}", int(n), "problem" if reason == "missing" else "info"))
    else:
        rows.append(("gaps", 0, "info"))
    dupes = int(report.duplicates["events"].sum()) if report.duplicates.height else 0
    rows += [("duplicate Nats-Msg-Id", dupes, "odd"),
             ("malformed", report.malformed.height, "odd"),
             ("late for their entity", report.late.height, "odd")]
    if report.kept is not None:
        rows.append(("kept, dropped by the stream", int(report.kept), "info"))
    if report.behind is not None:
        rows.append(("not synced yet", int(report.behind), "info"))
    findings = pl.DataFrame(rows, schema={"finding": pl.String, "events": pl.Int64,
                                          "kind": pl.String}, orient="row")
    bars: alt.Chart = alt.Chart(findings, title=_title(
        f"Integrity of the store of {report.stream!r}", "events concerned by each finding",
    )).mark_bar().encode(
        x=alt.X("events:Q", title="events"), y=alt.Y("finding:N", sort=None, title=None),
        color=alt.Color("kind:N", scale=alt.Scale(domain=["problem", "odd", "info"],
                                                  range=["#d62728", "#ff7f0e", "#7f7f7f"])),
        tooltip=["finding:N", "events:Q", "kind:N"],
    ).properties(width=320)
    late = report.late
    if not late.height:
        return bars
    seconds = late.select((pl.col("lateness").dt.total_microseconds() / 1e6).alias("s"))
    hist = values(seconds, "s", bins=bins)
    hist.title = _title("How late", f"{late.height:,} late events, binned into {bins} bins (s)")
    return alt.hconcat(bars, hist)


# -- static output --------------------------------------------------------------------


def to_svg(chart: alt.TopLevelMixin) -> str:
    """The chart drawn as SVG, offline (vl-convert), for pages that need no JavaScript."""
    import vl_convert as vlc

    return vlc.vegalite_to_svg(chart.to_json(), vl_version=_vl_version())


def _vl_version() -> str:
    major, minor = alt.SCHEMA_VERSION.lstrip("v").split(".")[:2]
    return f"{major}.{minor}"
