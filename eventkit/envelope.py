"""The envelope: one row per event, and the rules that find its type, key and time.

Every table eventkit builds from a stream starts with these columns, in this
order, ordered by ``seq``:

========== ======================= ==============================================
column     type                    meaning
========== ======================= ==============================================
seq        UInt64                  JetStream stream sequence: the total order
subject    String                  NATS subject
time       Datetime(ns, UTC)       when the server stored it (transaction time)
type       String                  event type, by a rule
key        String                  entity / aggregate id, by a rule
event_time Datetime(ns, UTC)       when it happened (valid time), by a rule
headers    String (JSON), nullable message headers as a JSON object
data       Binary                  the payload exactly as stored
error      String, nullable        why the payload did not decode, else null
========== ======================= ==============================================

Rules are pure: they turn columns into columns and know nothing of NATS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from eventkit._time import TIME
from eventkit.exceptions import ConfigurationError

__all__ = ["ENVELOPE_SCHEMA", "TIME", "Rule", "Rules"]

_ARROW_TIME = pa.timestamp("ns", "UTC")  # TIME, as Arrow says it

ENVELOPE_SCHEMA: dict[str, pl.DataType] = {
    "seq": pl.UInt64(),
    "subject": pl.String(),
    "time": TIME,
    "type": pl.String(),
    "key": pl.String(),
    "event_time": TIME,
    "headers": pl.String(),
    "data": pl.Binary(),
    "error": pl.String(),
}

#: Stream metadata keys that carry a stream's own rules (set them once on the
#: stream and every reader finds type, key and time the same way).
METADATA_KEYS = {
    "type": "eventkit.type",
    "key": "eventkit.key",
    "event_time": "eventkit.event_time",
}


@dataclass(frozen=True, slots=True)
class Rule:
    """Where one value is found: ``header:NAME``, ``field:NAME`` or ``subject:INDEX``.

    Examples
    --------
    >>> Rule.parse("subject:-1")
    Rule(source='subject', name='-1')
    >>> Rule.parse("ride_id")  # a bare name is a payload field
    Rule(source='field', name='ride_id')
    """

    source: str
    name: str

    @classmethod
    def parse(cls, spec: str) -> Rule:
        source, sep, name = spec.strip().partition(":")
        if not sep:
            source, name = "field", spec.strip()
        if source not in ("header", "field", "subject") or not name:
            raise ConfigurationError(
                f"rule {spec!r} is not understood: write 'header:NAME', "
                "'field:NAME' or 'subject:INDEX' (e.g. 'subject:-1')"
            )
        if source == "subject":
            try:
                int(name)
            except ValueError:
                raise ConfigurationError(
                    f"rule {spec!r}: a subject rule takes a token index, e.g. 'subject:2'"
                ) from None
        return cls(source, name)

    def __str__(self) -> str:
        return f"{self.source}:{self.name}"


def parse_rules(value: str | Iterable[str] | Iterable[Rule], *,
                what: str = "a rule list") -> tuple[Rule, ...]:
    """Rules from ``"header:ce-type,field:type"``, a list of such strings, or Rules.

    >>> parse_rules("field:type,subject:-1")
    (Rule(source='field', name='type'), Rule(source='subject', name='-1'))
    """
    items = value.split(",") if isinstance(value, str) else value
    rules = tuple(r if isinstance(r, Rule) else Rule.parse(r) for r in items)
    if not rules:
        raise ConfigurationError(f"{what} must name at least one place to look")
    return rules


@dataclass(frozen=True, slots=True, init=False)
class Rules:
    """How an event's ``type``, ``key`` and ``event_time`` are found.

    Each is a list of places tried in order; the first non-null value wins.
    A place is ``"header:NAME"``, ``"field:NAME"`` (a top-level payload field)
    or ``"subject:INDEX"`` (a subject token, negative from the end).

    The defaults follow CloudEvents where headers are present, then common
    payload field names, then the subject's last token for the type. A stream
    may carry its own rules in its metadata (``eventkit.type``,
    ``eventkit.key``, ``eventkit.event_time``, comma-separated), which readers
    use unless given rules explicitly.

    Examples
    --------
    >>> Rules(key="field:ride_id").key
    (Rule(source='field', name='ride_id'),)
    >>> print(Rules().describe())
    type: header:ce-type, field:type, subject:-1
    key: header:ce-subject, field:key, field:aggregate_id, field:entity_id, field:id
    event_time: header:ce-time, field:event_time, field:timestamp
    """

    type: tuple[Rule, ...]
    key: tuple[Rule, ...]
    event_time: tuple[Rule, ...]

    def __init__(
        self,
        type: str | Iterable[str] = "header:ce-type,field:type,subject:-1",
        key: str | Iterable[str] = (
            "header:ce-subject,field:key,field:aggregate_id,field:entity_id,field:id"
        ),
        event_time: str | Iterable[str] = "header:ce-time,field:event_time,field:timestamp",
    ) -> None:
        object.__setattr__(self, "type", parse_rules(type))
        object.__setattr__(self, "key", parse_rules(key))
        object.__setattr__(self, "event_time", parse_rules(event_time))

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str] | None) -> Rules:
        """Rules from a stream's metadata, defaults where it says nothing."""
        given = {
            name: metadata[meta_key]
            for name, meta_key in METADATA_KEYS.items()
            if metadata and metadata.get(meta_key)
        }
        return cls(**given)

    def to_metadata(self) -> dict[str, str]:
        """The stream metadata entries that make readers use these rules."""
        return {
            METADATA_KEYS[name]: ",".join(map(str, getattr(self, name)))
            for name in METADATA_KEYS
        }

    def describe(self) -> str:
        return "\n".join(
            f"{name}: {', '.join(map(str, getattr(self, name)))}" for name in METADATA_KEYS
        )

    def fields(self) -> list[str]:
        """Payload fields the rules read (decoded as strings for the envelope)."""
        seen: dict[str, None] = {}
        for name in METADATA_KEYS:
            for rule in getattr(self, name):
                if rule.source == "field":
                    seen[rule.name] = None
        return list(seen)

    def headers(self) -> list[str]:
        """Header names the rules read."""
        return sorted(
            {r.name for name in METADATA_KEYS for r in getattr(self, name) if r.source == "header"}
        )

    def apply(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Add ``type``, ``key`` and ``event_time`` to ``frame``.

        ``frame`` has ``subject``, ``headers`` (JSON text) and, for each field
        rule, a text column named by :func:`field_column`. A later place is
        only looked at for the rows the earlier ones left null, so the common
        case (the first place answers) costs one column.
        """
        return frame.with_columns(
            _first(frame, self.type).alias("type"),
            _first(frame, self.key).alias("key"),
            parse_times(_first(frame, self.event_time)).alias("event_time"),
        )


def payload_column(name: str) -> str:
    """The column a payload field gets in a typed table: ``payload_<name>`` if the
    envelope already has a column of that name, else the name itself.

    >>> payload_column("fare"), payload_column("time")
    ('fare', 'payload_time')
    """
    return f"payload_{name}" if name in ENVELOPE_SCHEMA else name


def field_column(name: str) -> str:
    return f"__field__{name}"


def _one(frame: pl.DataFrame, rule: Rule) -> pl.Series:
    if rule.source == "field":
        return frame.get_column(field_column(rule.name)).cast(pl.String)
    if rule.source == "subject":
        return frame.get_column("subject").str.split(".").list.get(
            int(rule.name), null_on_oob=True)
    return frame.get_column("headers").str.json_path_match(f"$['{rule.name}']")


def _first(frame: pl.DataFrame, rules: tuple[Rule, ...]) -> pl.Series:
    """The first non-null value over ``rules``, looking further only where needed."""
    out = _one(frame, rules[0])
    for rule in rules[1:]:
        missing = out.is_null()
        if not missing.any():
            break
        if rule.source == "header" and frame.get_column("headers").null_count() == frame.height:
            continue
        rows = missing.arg_true()
        out = out.scatter(rows, _one(frame[rows], rule))
    return out


_ISO_FORMATS = ("%Y-%m-%dT%H:%M:%S%.fZ", "%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%SZ",
                "%Y-%m-%d %H:%M:%S%.f%:z")


def parse_times(text: pl.Series) -> pl.Series:
    """Datetime(ns, UTC) from ISO-8601 text or epoch numbers (s, ms, us or ns by size).

    Unreadable values become null; the raw payload keeps them. Each format is
    tried only on the values the ones before it could not read.

    Examples
    --------
    >>> s = pl.Series(["2026-11-01T12:00:00.5Z", "2026-11-01T13:00:00+01:00",
    ...                "1793534400000", "soon", None])
    >>> parse_times(s).to_list()  # doctest: +NORMALIZE_WHITESPACE
    [datetime.datetime(2026, 11, 1, 12, 0, 0, 500000, tzinfo=zoneinfo.ZoneInfo(key='UTC')),
     datetime.datetime(2026, 11, 1, 12, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')),
     datetime.datetime(2026, 11, 1, 12, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')),
     None, None]
    """
    text = text.cast(pl.String)
    try:  # the common case: all ISO-8601 with a zone, which Arrow reads fastest
        return pl.Series(text.name, pc.cast(text.to_arrow(), _ARROW_TIME))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    out = text.str.strptime(TIME, _ISO_FORMATS[0], strict=False, exact=True)
    if out.null_count() == text.null_count():  # one format throughout
        return out
    given = text.is_not_null()
    for fmt in _ISO_FORMATS[1:]:
        todo = given & out.is_null()
        if not todo.any():
            return out
        out = out.zip_with(~todo, text.str.strptime(TIME, fmt, strict=False, exact=True))
    todo = given & out.is_null()
    if todo.any():
        out = out.zip_with(~todo, _epoch(text))
    todo = given & out.is_null() & text.str.contains(_ARROW_ISO)
    if todo.any():  # what Arrow reads and the formats do not ("...T10Z"): the same
        rows = todo.arg_true()  # answer as when the whole batch went through Arrow
        out = out.scatter(rows, _arrow_times(text.gather(rows)))
    return out


# The ISO-8601 forms with a zone that Arrow's cast reads (date, then optional
# time to the hour, minute, second or fraction, then Z or an offset).
_ARROW_ISO = (r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:?\d{2}(:?\d{2}([.,]\d{1,9})?)?)?)?"
              r"(Z|[+-]\d{2}(:?\d{2})?)$")


def _arrow_times(text: pl.Series) -> pl.Series:
    """Arrow's reading of each value (null where it refuses one)."""
    try:
        return pl.Series(pc.cast(text.to_arrow(), _ARROW_TIME))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = []
        for value in text.to_list():
            try:
                values.append(pc.cast(pa.scalar(value), _ARROW_TIME).value)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                values.append(None)
        return pl.Series(values, dtype=pl.Int64).cast(TIME)


_DECIMAL = r"^([+-]?)(\d+)(?:\.(\d+))?$"


def _epoch(text: pl.Series) -> pl.Series:
    """Epoch numbers, exactly: the unit by size (s below 1e11, ms below 1e14, us below
    1e17, else ns), integer and fraction digits in integer arithmetic (no float:
    ``1774740600650`` ms is ``...650000000`` ns). Past the nanosecond a fraction is
    cut; forms with an exponent go through a float."""
    parts = text.str.strip_chars().str.extract_groups(_DECIMAL)
    whole = parts.struct.field("2").cast(pl.Int128, strict=False)
    frac = parts.struct.field("3").fill_null("").str.slice(0, 9).str.pad_end(9, "0")
    frac = frac.cast(pl.Int128, strict=False)
    size = whole.abs()
    per = (pl.when(size < 10**11).then(pl.lit(10**9, pl.Int128))
           .when(size < 10**14).then(pl.lit(10**6, pl.Int128))
           .when(size < 10**17).then(pl.lit(10**3, pl.Int128))
           .otherwise(pl.lit(1, pl.Int128)))
    sign = pl.when(parts.struct.field("1") == "-").then(-1).otherwise(1).cast(pl.Int128)
    exact = pl.select(
        (sign * (whole * per + frac * per // 10**9)).cast(pl.Int64, strict=False).cast(TIME)
    ).to_series()
    todo = exact.is_null() & text.is_not_null()
    if not todo.any():
        return exact.alias(text.name)
    number = text.str.strip_chars().cast(pl.Float64, strict=False)
    floats = pl.select(
        pl.when(number.abs() < 1e11).then(number * 1e9)
        .when(number.abs() < 1e14).then(number * 1e6)
        .when(number.abs() < 1e17).then(number * 1e3)
        .otherwise(number)
        .round().cast(pl.Int64, strict=False).cast(TIME)
    ).to_series()
    return exact.zip_with(~todo, floats).alias(text.name)
