"""Which schema version each event was written with: the version rules, and versions over time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import orjson
import polars as pl

from eventkit._time import Duration, to_duration
from eventkit._typing import TimeColumn
from eventkit.envelope import ENVELOPE_SCHEMA, Rule, parse_rules
from eventkit.exceptions import (
    ConfigurationError,
)
from eventkit.schema._json_lines import Lines

if TYPE_CHECKING:
    from eventkit.events import Events




# -- versions of events ------------------------------------------------------------
#: Where an event's schema version is found, tried in order (then 1).
DEFAULT_VERSION = "header:ce-dataschema,field:schema_version"


def _version_rules(value: str | Iterable[str] | Iterable[Rule]) -> tuple[Rule, ...]:
    return parse_rules(value, what="the version rule list")


def _envelope(events: Events | pl.DataFrame) -> pl.DataFrame:
    """The envelope columns a check needs (``subject``, ``headers``, ``error`` may be absent)."""
    frame = events if isinstance(events, pl.DataFrame) else events.to_polars()
    missing = [c for c in ("seq", "type", "data") if c not in frame.columns]
    if missing:
        raise ConfigurationError(
            f"events need the envelope columns seq, type and data (missing {missing}): pass "
            "what conn.read(...) returns, or its to_polars()")
    extra = [pl.lit(None, d).alias(c) for c, d in ENVELOPE_SCHEMA.items()
             if c in ("subject", "headers", "error", "time", "event_time")
             and c not in frame.columns]
    return frame.with_columns(extra) if extra else frame


def event_versions(frame: pl.DataFrame, rules: Sequence[Rule]) -> pl.Series:
    """The schema version of each event (Int64): the first rule that gives a number, else 1.

    A header gives the last number in its value (CloudEvents' ``ce-dataschema``
    is a URI such as ``.../payment_captured/v2.json``); a payload field or a
    subject token gives the first number in it.

    Examples
    --------
    >>> frame = pl.DataFrame({
    ...     "subject": ["rides.a", "rides.a", "rides.a"],
    ...     "headers": ['{"ce-dataschema": "https://x.io/payment_captured/v3.json"}', None, None],
    ...     "data": [b"{}", b'{"schema_version": 2}', b'{"amount": 1}'],
    ...     "error": [None, None, None]})
    >>> event_versions(frame, _version_rules(DEFAULT_VERSION)).to_list()
    [3, 2, 1]
    """
    n = frame.height
    out = pl.Series("version", [None] * n, dtype=pl.Int64)
    for rule in rules:
        todo = out.is_null()
        if not todo.any():
            break
        if rule.source == "header":
            headers = frame.get_column("headers")
            if headers.null_count() == n:
                continue
            value = headers.str.json_path_match(f"$['{rule.name}']").str.extract(r"(\d+)\D*$")
        elif rule.source == "subject":
            value = frame.get_column("subject").str.split(".").list.get(
                int(rule.name), null_on_oob=True).str.extract(r"(\d+)")
        else:
            value = _field_text(frame, rule.name, todo)
        out = out.zip_with(~todo, value.cast(pl.Int64, strict=False))
    return out.fill_null(1).rename("version")


def _field_text(frame: pl.DataFrame, name: str, todo: pl.Series) -> pl.Series:
    """A top-level payload field as the first number in its text, where ``todo``."""
    data = frame.get_column("data")
    ok = todo & frame.get_column("error").is_null()
    ok &= data.bin.contains(orjson.dumps(name))  # cheap: most payloads do not name it
    value = pl.Series([None] * frame.height, dtype=pl.String)
    rows = ok.arg_true()
    if not len(rows):
        return value
    lines = Lines(data.gather(rows))
    try:
        text = pl.read_ndjson(lines.ndjson(), schema={name: pl.String()}).get_column(name)
    except pl.exceptions.PolarsError:  # cannot happen for decoded payloads; be safe
        text = pl.Series([str(p.get(name)) if isinstance(p, dict) and p.get(name) is not None
                          else None for p in lines.loads(range(len(lines)))], dtype=pl.String)
    return value.scatter(rows, text.str.extract(r"^\D*(\d+)"))


def versions_over_time(
    events: Events | pl.DataFrame, every: str | dt.timedelta | Duration = "1h", *,
    on: TimeColumn = "event_time", version: str | Iterable[str] | Iterable[Rule] = DEFAULT_VERSION,
) -> pl.DataFrame:
    """Events per time window, type and schema version: what a chart of schema rollout draws.

    Parameters
    ----------
    events
        What a read returns, or its envelope frame.
    every
        Window length in eventkit's one duration grammar (``"1h"``, ``"15m"``,
        ``"500ns"``, ``"1mo"``; see :mod:`eventkit._time`) or a timedelta:
        windows as :func:`eventkit.query.windows` lays them.
    on
        ``"time"`` (when stored) or ``"event_time"`` (when it happened).
    version
        Where the version is found (see :class:`SchemaRegistry`).

    Returns
    -------
    polars.DataFrame
        ``window`` (start, Datetime ns UTC), ``type``, ``version`` (Int64), ``count``.

    Examples
    --------
    >>> import datetime as dt
    >>> t = [dt.datetime(2026, 11, 1, h, tzinfo=dt.UTC) for h in (0, 0, 1, 1)]
    >>> frame = pl.DataFrame({"seq": [1, 2, 3, 4], "type": ["paid"] * 4,
    ...     "event_time": pl.Series(t).cast(pl.Datetime("ns", "UTC")),
    ...     "data": [b'{}', b'{}', b'{"schema_version": 2}', b'{}']})
    >>> versions_over_time(frame, "1h")
    shape: (3, 4)
    ┌─────────────────────────┬──────┬─────────┬───────┐
    │ window                  ┆ type ┆ version ┆ count │
    │ ---                     ┆ ---  ┆ ---     ┆ ---   │
    │ datetime[ns, UTC]       ┆ str  ┆ i64     ┆ u32   │
    ╞═════════════════════════╪══════╪═════════╪═══════╡
    │ 2026-11-01 00:00:00 UTC ┆ paid ┆ 1       ┆ 2     │
    │ 2026-11-01 01:00:00 UTC ┆ paid ┆ 1       ┆ 1     │
    │ 2026-11-01 01:00:00 UTC ┆ paid ┆ 2       ┆ 1     │
    └─────────────────────────┴──────┴─────────┴───────┘
    """
    env = _envelope(events)
    frame = env.select(pl.col(on).alias("window"), "type").with_columns(
        event_versions(env, _version_rules(version)))
    return (frame.filter(pl.col("window").is_not_null())
            .group_by(pl.col("window").dt.truncate(to_duration(every, what="every").polars),
                      "type", "version")
            .agg(pl.len().alias("count"))
            .sort("window", "type", "version"))
