"""What a read or a check uses: every registered schema, fetched once, pure from then on.

:meth:`SchemaRegistry.snapshot <eventkit.SchemaRegistry.snapshot>` makes a
:class:`Snapshot`; reads (:meth:`Connection.read <eventkit.Connection.read>`,
:meth:`Store.sync <eventkit.Store.sync>`) take one per call and hand it to the
decoding threads, which need no I/O: :meth:`Snapshot.apply` types the tables of
the registered types, :meth:`Snapshot.check` validates in bulk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from eventkit._time import TIME
from eventkit.codec import Decoded
from eventkit.envelope import Rule, Rules, payload_column
from eventkit.exceptions import (
    ConfigurationError,
    SchemaNotFoundError,
)
from eventkit.schema._entry import SchemaEntry
from eventkit.schema._json_decode import _from_text, coerce_payloads, conform, decode_lines
from eventkit.schema._json_lines import Lines
from eventkit.schema._json_parse import Spec
from eventkit.schema._json_types import arrow_schema
from eventkit.schema._json_validate import validate_lines

if TYPE_CHECKING:
    from eventkit.events import Events

from eventkit.schema._versions import _envelope, event_versions

#: The column of typed tables that says which version an event was written with.
VERSION_COLUMN = "schema_version"

CHECK_SCHEMA = {"seq": pl.UInt64(), "type": pl.String(), "version": pl.Int64(),
                "path": pl.String(), "reason": pl.String()}



# -- upcasters -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Upcaster:
    to: int
    fn: Callable[[Any], Any]
    per: str


# -- what a read or a check uses: every schema, fetched once -----------------------
@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every registered schema, the upcasters and the version rules: pure, no I/O.

    Attributes
    ----------
    specs
        The parsed JSON Schemas of the types whose versions are all JSON
        Schema: :meth:`apply` and :meth:`check` type and validate those.
    upcasters
        ``(type, from_version)`` to the upcaster registered for it.
    version
        The rules that find an event's schema version.
    entries
        Every version of every type, whatever its format:
        ``{type: {version: SchemaEntry}}`` (:meth:`entry`, :meth:`by_id`).

    Decoders of other formats take their schemas from here:
    ``avro_schema(snapshot.by_id(schema_id))`` for a Confluent-framed Avro
    payload, ``protobuf_message(snapshot.entry(event_type, version))`` for
    Protobuf (see :mod:`eventkit.schema._entry`).
    """

    specs: Mapping[str, Mapping[int, Spec]]
    upcasters: Mapping[tuple[str, int], _Upcaster]
    version: tuple[Rule, ...]
    entries: Mapping[str, Mapping[int, SchemaEntry]] = field(default_factory=dict)
    _ids: dict[int, SchemaEntry] = field(default_factory=dict, init=False, repr=False,
                                         compare=False)

    def __post_init__(self) -> None:
        self._ids.update({e.id: e for versions in self.entries.values()
                          for e in versions.values() if e.id is not None})

    def entry(self, event_type: str, version: int | None = None) -> SchemaEntry:
        """One version of a type (the newest by default); SchemaNotFoundError if none.

        Examples
        --------
        >>> from eventkit.schema._entry import SchemaEntry
        >>> v1 = SchemaEntry("paid", 1, "avro", '"string"', id=7)
        >>> snap = Snapshot({}, {}, (), {"paid": {1: v1}})
        >>> snap.entry("paid").id, snap.by_id(7).version
        (7, 1)
        """
        versions = self.entries.get(event_type)
        if not versions:
            raise SchemaNotFoundError(f"no schema for {event_type!r} in the registry (types: "
                                      f"{', '.join(sorted(self.entries)) or 'none'})")
        version = max(versions) if version is None else version
        if version not in versions:
            raise SchemaNotFoundError(f"{event_type} has no version {version} in the registry "
                                      f"(versions: {sorted(versions)})")
        return versions[version]

    def by_id(self, schema_id: int) -> SchemaEntry:
        """The version a global schema id names (as a Confluent-framed message carries it)."""
        try:
            return self._ids[schema_id]
        except KeyError:
            raise SchemaNotFoundError(f"no schema has id {schema_id} in the registry (ids: "
                                      f"{_ranges(sorted(self._ids))})") from None

    def formats(self) -> dict[str, str]:
        """Per type, the format of its newest version (``"json"``, ``"avro"``, ``"protobuf"``)."""
        return {t: v[max(v)].format for t, v in self.entries.items()}

    def latest(self, event_type: str) -> int:
        return max(self.specs[event_type])

    def schemas(self) -> dict[str, dict[str, pl.DataType]]:
        """Per type, the newest version's fields and their polars types."""
        return {t: arrow_schema(v[max(v)]) for t, v in self.specs.items()}

    # -- checking --------------------------------------------------------------
    def check(self, events: Events | pl.DataFrame) -> pl.DataFrame:
        """Every violation (see :meth:`SchemaRegistry.check`): JSON Schema types validated
        in bulk; Avro and Protobuf types, whose decoding is their check, listed where the
        payload did not decode (version null: their decoder finds it by schema id)."""
        env = _envelope(events)
        found: list[pl.DataFrame] = []
        others = [t for t in self.entries if t not in self.specs]
        failed = env.filter(pl.col("type").is_in(others) & pl.col("error").is_not_null())
        if failed.height:
            found.append(failed.select("seq", "type", version=pl.lit(None, pl.Int64),
                                       path=pl.lit(""), reason=pl.format(
                                           "payload did not decode: {}", "error")))
        env = env.filter(pl.col("type").is_in(list(self.specs)))
        env = env.with_columns(version=event_versions(env, self.version))
        bad = env.filter(pl.col("error").is_not_null())
        if bad.height:
            found.append(bad.select("seq", "type", "version", path=pl.lit(""),
                                    reason=pl.format("payload did not decode: {}", "error")))
        good = env.filter(pl.col("error").is_null())
        for (event_type, version), part in good.partition_by(
                "type", "version", as_dict=True, maintain_order=True).items():
            spec = self.specs[event_type].get(version)
            if spec is None:
                known = ", ".join(map(str, sorted(self.specs[event_type])))
                found.append(part.select("seq", "type", "version", path=pl.lit(""), reason=pl.lit(
                    f"version {version} is not registered (registered: {known})")))
                continue
            hits = validate_lines(Lines(part.get_column("data")), spec)
            if hits.height:
                found.append(hits.select(
                    part.get_column("seq").gather(hits.get_column("row")).alias("seq"),
                    pl.lit(event_type).alias("type"), pl.lit(version, pl.Int64).alias("version"),
                    "path", "reason"))
        if not found:
            return pl.DataFrame(schema=CHECK_SCHEMA)
        out = pl.concat([f.select(pl.col(c).cast(d) for c, d in CHECK_SCHEMA.items())
                         for f in found])
        return out.sort("seq", "path", "reason")

    # -- decoding --------------------------------------------------------------
    def apply(self, decoded: Decoded, rules: Rules) -> Decoded:
        """``decoded`` with the typed tables of registered types decoded by their schemas."""
        env = decoded.envelope
        present = [t for t in env.get_column("type").unique(maintain_order=True).to_list()
                   if t in self.specs]
        if not present:
            return decoded
        consumed = {name for name in ("type", "key", "event_time")
                    if any(r.source == "field" and r.name == name for r in getattr(rules, name))}
        consumed |= {r.name for r in self.version if r.source == "field"}
        rows = env.filter(pl.col("type").is_in(present) & pl.col("error").is_null())
        rows = rows.with_columns(version=event_versions(rows, self.version))
        typed = dict(decoded.typed)
        parts = rows.partition_by("type", as_dict=True, maintain_order=True)
        for event_type in present:
            part = parts.get((event_type,))
            if part is None:
                typed.pop(event_type, None)
                continue
            typed[event_type] = self._typed(event_type, part, consumed,
                                            decoded.typed.get(event_type))
        return Decoded(env, typed)

    def _typed(self, event_type: str, part: pl.DataFrame, consumed: set[str],
               inferred: pl.DataFrame | None) -> pl.DataFrame:
        specs = self.specs[event_type]
        latest = max(specs)
        frames: list[pl.DataFrame] = []
        groups = part.partition_by("version", as_dict=True, maintain_order=True)
        for (version,), group in groups.items():
            have = version if version in specs else latest
            seq = group.get_column("seq")
            frame = None
            if len(groups) == 1 and have == latest:  # the usual case: maybe parsed already
                frame = _reuse(inferred, seq, specs[latest], consumed)
            if frame is None:
                frame = self._upcast(event_type, have, Lines(group.get_column("data")), seq)
            frames.append(frame.insert_column(
                1, pl.repeat(version, frame.height, dtype=pl.Int64, eager=True)
                .alias("__version")))
        out = pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]
        if len(frames) > 1:
            out = out.sort("seq")
        fields = [c for c in arrow_schema(specs[latest]) if c not in consumed]
        clash = {c: payload_column(c) if c != VERSION_COLUMN else f"payload_{c}"
                 for c in fields if payload_column(c) != c or c == VERSION_COLUMN}
        return out.select("seq", "__version", *fields).rename(
            {**clash, "__version": VERSION_COLUMN})

    def upcast(self, event_type: str, version: int, frame: pl.DataFrame) -> pl.DataFrame:
        """Events written with ``version``, decoded, brought to the newest version's shape.

        For decoders of any format: ``frame`` holds ``seq`` and the payload
        fields of one version's events, decoded by that version's schema.
        Each registered upcaster runs in turn (``per="frame"`` on the frame,
        ``per="event"`` on each payload as a dict); between versions without
        one, fields carry over by name. JSON Schema versions also cast the
        result to the next version's column types.

        Examples
        --------
        >>> import eventkit as ek
        >>> reg = ek.SchemaRegistry()
        >>> for fare in ("float", "long"):
        ...     _ = reg.register("paid", {"type": "record", "name": "Paid", "fields": [
        ...         {"name": "fare", "type": fare}]}, format="avro", compatibility="NONE")
        >>> @reg.upcaster("paid", 1, 2, per="event")
        ... def to_cents(event):
        ...     return {"fare": round(event["fare"] * 100)}
        >>> reg.snapshot().upcast("paid", 1, pl.DataFrame({"seq": [7], "fare": [9.5]}))
        shape: (1, 2)
        ┌─────┬──────┐
        │ seq ┆ fare │
        │ --- ┆ ---  │
        │ i64 ┆ i64  │
        ╞═════╪══════╡
        │ 7   ┆ 950  │
        └─────┴──────┘
        """
        versions = self.entries.get(event_type) or self.specs.get(event_type) or {}
        if version not in versions:
            raise SchemaNotFoundError(f"{event_type} has no version {version} in the "
                                      f"registry (versions: {sorted(versions)})")
        specs = self.specs.get(event_type, {})
        while version < max(versions):
            step, to, where = self._step(event_type, version, versions)
            if step is not None:
                frame = (_event_step if step.per == "event" else _frame_step)(step, frame, where)
            if to in specs:
                frame = conform(frame, specs[to])
            version = to
        return frame

    def _step(self, event_type: str, version: int, versions: Mapping[int, Any]
              ) -> tuple[_Upcaster | None, int, str]:
        """The upcaster from ``version`` (None: fields carry over), the version it gives,
        and its name for messages."""
        step = self.upcasters.get((event_type, version))
        to = step.to if step else min(v for v in versions if v > version)
        if to not in versions:
            raise ConfigurationError(
                f"the upcaster of {event_type} from version {version} goes to version {to}, "
                f"which is not registered (registered: {sorted(versions)})")
        return step, to, f"the upcaster of {event_type} from version {version} to {to}"

    def _upcast(self, event_type: str, version: int, lines: Lines,
                seq: pl.Series) -> pl.DataFrame:
        """Lines written with ``version``, in the newest version's shape."""
        specs = self.specs[event_type]
        latest = max(specs)
        frame: pl.DataFrame | None = None
        payloads: list[Any] | None = None
        while version < latest:
            step, to, where = self._step(event_type, version, specs)
            if step is not None and step.per == "event":
                if payloads is None:
                    payloads = (lines.loads(range(len(lines))) if frame is None else
                                frame.drop("seq").to_dicts())
                payloads = [_call(step.fn, dict(p) if isinstance(p, dict) else {}, where)
                            for p in payloads]
                frame = None
            else:
                if frame is None:
                    frame = (decode_lines(lines, specs[version]) if payloads is None else
                             _from_payloads(payloads, specs[version]))
                    frame = frame.insert_column(0, seq.rename("seq"))
                    payloads = None
                if step is not None:
                    frame = _frame_step(step, frame, where)
                frame = conform(frame, specs[to])
            version = to
        if frame is None:
            spec = specs[version]
            frame = (decode_lines(lines, spec) if payloads is None
                     else _from_payloads(payloads, spec))
            frame = frame.insert_column(0, seq.rename("seq"))
        return frame


def _frame_step(step: _Upcaster, frame: pl.DataFrame, where: str) -> pl.DataFrame:
    """A frame upcaster run on ``frame``, its result checked."""
    out = _call(step.fn, frame, where)
    if not isinstance(out, pl.DataFrame) or out.height != frame.height or (
            "seq" not in out.columns):
        raise ConfigurationError(f"{where} must return a polars DataFrame with one row per "
                                 "row it was given, keeping 'seq'")
    return out


def _event_step(step: _Upcaster, frame: pl.DataFrame, where: str) -> pl.DataFrame:
    """A per-event upcaster run on each payload dict of ``frame`` (``seq`` kept)."""
    payloads = [_call(step.fn, p, where) for p in frame.drop("seq").to_dicts()]
    if not all(isinstance(p, dict) for p in payloads):
        raise ConfigurationError(f"{where} must return a dict per event")
    out = pl.from_dicts(payloads, infer_schema_length=None) if payloads else pl.DataFrame()
    return out.insert_column(0, frame.get_column("seq"))


def _reuse(inferred: pl.DataFrame | None, seq: pl.Series, spec: Spec,
           consumed: set[str]) -> pl.DataFrame | None:
    """The decoder's own table of a type, in the schema's types, where that is exact.

    The codec has parsed every payload already (its types inferred). Where
    a column's inferred type is the schema's, or one that converts without
    loss (integers to a number column, text to date-times), parsing again
    would give the same values; any other difference, and None: parse again.
    """
    if inferred is None or inferred.height != len(seq) or not inferred["seq"].equals(seq):
        return None
    columns = [seq.rename("seq")]
    for name, want in arrow_schema(spec).items():
        if name in consumed:
            continue  # dropped from the table anyway
        column = payload_column(name)
        have = inferred.schema.get(column)
        if have is None or have == pl.Null:
            columns.append(pl.Series(name, [None] * len(seq), dtype=want))
        elif have == want or (want == pl.Float64 and have == pl.Int64):
            columns.append(inferred.get_column(column).cast(want).rename(name))
        elif want == TIME and have == pl.String:
            columns.append(inferred.select(_from_text(pl.col(column), want)).to_series()
                           .rename(name))
        else:
            return None
    return pl.DataFrame(columns)


def _call(fn: Callable[[Any], Any], value: Any, where: str) -> Any:
    try:
        return fn(value)
    except Exception as exc:
        raise ConfigurationError(f"{where} failed: {type(exc).__name__}: {exc}") from exc


def _from_payloads(payloads: list[Any], spec: Spec) -> pl.DataFrame:
    return coerce_payloads(payloads, spec)


def _ranges(ids: list[int]) -> str:
    """``[1, 2, 3, 7]`` as ``"1-3, 7"``."""
    if not ids:
        return "none"
    out, start = [], ids[0]
    for a, b in zip(ids, [*ids[1:], None], strict=True):
        if b != a + 1:
            out.append(str(start) if start == a else f"{start}-{a}")
            start = b  # type: ignore[assignment]
    return ", ".join(out)
