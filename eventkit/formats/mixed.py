"""A batch whose payloads are not all plain JSON: each message decoded by its own format.

Pure, like the codec. In order:

1. a ``content-encoding`` header (``gzip``, ``zstd``) is undone;
2. each message's format is found by the :class:`~eventkit.formats.rules.FormatRules`;
3. a structured CloudEvent (``application/cloudevents+json``) is unwrapped:
   its attributes stand as ``ce-*`` headers for the envelope rules, its
   ``data`` (or ``data_base64``) is the payload, of the format its
   ``datacontenttype`` names (JSON by default);
4. JSON payloads go the codec's JSON way; Avro and Protobuf payloads are
   decoded per writer schema (Confluent id, Avro fingerprint, or the
   registry's schema for the type), MessagePack payloads all at once.

Formats, schema ids and groups are found for the whole batch at once
(polars expressions over the payloads and headers); only the messages of
steps 1 and 3 are looked at one by one (:mod:`eventkit.formats._unwrap`).
``data`` and ``headers`` keep what the server stored. A payload that does not
decode is kept, flagged in ``error`` with its format, schema and the reason.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import orjson
import polars as pl

from eventkit.envelope import ENVELOPE_SCHEMA, Rules, field_column, payload_column
from eventkit.formats import _unwrap as one
from eventkit.formats import avro, messagepack, protobuf
from eventkit.formats.rules import FormatRules, content_format
from eventkit.formats.schemas import Schemas, WriterSchema
from eventkit.source._protocol import parse_headers

__all__ = ["decode_mixed", "needs_formats"]

EMPTY = "empty payload"  # the codec's reason for an empty payload (eventkit.codec.EMPTY)


class Part(NamedTuple):
    """Envelope rows and typed frames of some of a batch's messages (merged by the codec)."""

    envelope: pl.DataFrame
    typed: dict[str, list[pl.DataFrame]]


JsonDecode = Callable[..., Any]  # the codec's JSON decode: .envelope and .typed
_ENCODING = ("content-encoding", "ce-contentencoding")
Group = tuple[WriterSchema, tuple[int, ...], str]  # schema, message path, how it was found


def needs_formats(headers: Mapping[int, bytes], payloads: Sequence[bytes],
                  formats: FormatRules, *, writers: Schemas | None = None) -> bool:
    """Whether any message of a batch may be other than plain JSON (cheap: the few payloads
    that are not ``{...}`` are looked at one by one, the rest not at all)."""
    if formats.only == "json":
        return False
    if formats.only is not None:
        return True
    if any(b"content-" in block.lower() for block in headers.values()):
        return True
    odd = [i for i, p in enumerate(payloads) if p[:1] != b"{"]
    if odd and (writers or len(odd) > 64):  # the registry may name a format: the whole way
        return True
    none = Schemas()  # no content header, no registry: only the payload's first bytes can say
    return any(one.format_of(formats, None, payloads[i], None, none) != "json" for i in odd)


def decode_mixed(
    seq: pl.Series, time: pl.Series, subjects: Sequence[bytes] | Sequence[str],
    headers: Mapping[int, bytes], payloads: Sequence[bytes], rules: Rules, *,
    formats: FormatRules, writers: Schemas, json_decode: JsonDecode, **json_options: Any,
) -> list[Part]:
    """Decode a batch message by message format (see the module docstring); the parts (JSON
    messages, the others) for the codec to merge in sequence order."""
    n = len(payloads)
    subject = pl.Series("subject", subjects)
    if subject.dtype != pl.String:
        subject = subject.cast(pl.String)
    sets = HeaderSets(n, headers)
    hjson = sets.hjson
    data = pl.Series("data", payloads, dtype=pl.Binary)
    body = list(payloads)
    errors: dict[int, str] = {i: EMPTY for i in
                              (data.bin.size() == 0).arg_true().to_list()}
    extra: dict[int, dict[str, str]] = {}   # headers the envelope rules see besides the real ones
    ptype = _provisional(rules, subject, sets)
    kind = _kinds(formats, sets, data, ptype, writers)
    coded = set(sets.first(_ENCODING).is_not_null().arg_true().to_list())
    special = coded | set((kind == "cloudevents").arg_true().to_list())
    if not special and bool((kind == "json").all()):  # JSON after all (a few bad payloads)
        out = json_decode(seq, time, subject.to_list(), headers, payloads, rules, **json_options)
        return [Part(out.envelope, {t: [f] for t, f in out.typed.items()})]
    kinds: dict[int, str] = {}
    types: dict[int, str | None] = {}
    found, provisional = (kind.to_list(), ptype.to_list()) if special else ([], [])
    inner_rules = FormatRules(("magic", "registry", "json"))
    envelopes = [i for i in sorted(special - set(errors) - coded) if found[i] == "cloudevents"]
    for i, got in zip(envelopes, one.unwrap_many([body[i] for i in envelopes]), strict=True):
        if isinstance(got, Exception):  # structured CloudEvents, unwrapped in one pass
            errors[i] = f"cloudevents: {got}"
            continue
        body[i], extra[i], inner = got
        t = extra[i].get("ce-type") or provisional[i]
        kinds[i] = inner or one.format_of(inner_rules, None, body[i], t, writers)
        types[i] = t
        if not body[i].strip():
            errors[i] = EMPTY
    for i in sorted(special - set(errors) - set(envelopes)):  # one by one: compressed ones
        names = orjson.loads(text) if (text := sets.text(i)) else None
        t, k, coding = provisional[i], None, None
        try:
            if names and (coding := one.get_header(names, _ENCODING)):
                body[i] = one.decompress(body[i], coding)
            k = one.format_of(formats, names, body[i], t, writers)
            if k == "cloudevents":
                body[i], extra[i], inner = one.unwrap(body[i])
                t = extra[i].get("ce-type") or t
                k = inner or one.format_of(inner_rules, None, body[i], t, writers)
        except Exception as exc:
            where = "cloudevents" if k == "cloudevents" else f"content-encoding {coding}"
            errors[i] = f"{where}: {exc}"
            continue
        if not body[i].strip():
            errors[i] = EMPTY
        kinds[i], types[i] = k, t
    if kinds:
        rows = list(kinds)
        kind = kind.scatter(rows, list(kinds.values()))
        ptype = ptype.scatter(rows, list(types.values()))
    if errors:
        kind = kind.scatter(list(errors), [None] * len(errors))
    as_json = _msgpack_as_json(kind, body, special)
    if as_json is not None:
        kind = kind.zip_with(as_json.is_not_null(), pl.repeat("json", n, dtype=pl.String,
                                                              eager=True))
    json_rows = (kind == "json").arg_true().to_list()
    other = (kind != "json").fill_null(True).arg_true().to_list()
    parts: list[Part] = []
    if json_rows:
        parts.append(_json_part(json_rows, seq, time, subject, headers, data, body, sets,
                                extra, special, as_json is not None, rules, json_decode,
                                json_options))
    if other:
        groups, maps = _groups(other, kind, data, ptype, body, special, errors, writers)
        parts.append(_other_part(other, seq, time, subject, hjson, data, extra, errors, groups,
                                 maps, rules))
    return parts


def _msgpack_as_json(kind: pl.Series, body: list[bytes], special: set[int]
                     ) -> pl.Series | None:
    """MessagePack maps rewritten as JSON text in ``body``, so they go the JSON way: typed as
    JSON is, with what earlier batches taught; null for the rows rewritten (None if none).
    Maps holding what JSON has no word for (``bin``, timestamps, non-text keys) stay
    MessagePack, as do the bad ones (their reasons are found there)."""
    rows = (kind == "msgpack").arg_true()
    if special:
        rows = rows.filter(~rows.is_in(list(special)))
    if not len(rows):
        return None
    at = rows.to_list()
    texts = messagepack.to_json(body if len(at) == len(body) else [body[i] for i in at])
    for i, text in zip(at, texts, strict=True):
        if text is not None:
            body[i] = text
    done = pl.Series(texts, dtype=pl.Binary).is_not_null()
    if not done.any():
        return None
    return pl.repeat(True, len(body), dtype=pl.Boolean, eager=True).scatter(
        rows.filter(done), None)


class HeaderSets:
    """A batch's header blocks, each distinct one parsed once (a batch's messages mostly
    carry the same few): per row a code into them, and what is looked up in them is looked
    up once per distinct block, then spread over the rows by that code."""

    def __init__(self, n: int, headers: Mapping[int, bytes]) -> None:
        known: dict[bytes, int] = {}
        codes = [known.setdefault(b, len(known)) for b in headers.values()]
        self._rows = headers
        self._codes = codes
        self.names = [parse_headers(b)[2] for b in known]
        self.texts = [orjson.dumps(h).decode() for h in self.names]  # as codec.header_json
        code = pl.repeat(None, n, dtype=pl.UInt32, eager=True)
        self.code = code.scatter(list(headers), codes) if codes else code
        self.hjson = self.spread(self.texts).rename("headers")

    def spread(self, values: Sequence[str | None]) -> pl.Series:
        """Per row, the value of its header block (``values`` by distinct block)."""
        return pl.Series(values, dtype=pl.String).gather(self.code)

    def first(self, names: Sequence[str], then: Callable[[str | None], str | None] | None = None
              ) -> pl.Series:
        """The first of header ``names`` (any case) in each row's headers (``then`` of it)."""
        def first(headers: dict[str, str]) -> str | None:
            found = {k.lower(): v for k, v in headers.items()}
            value = next((found[n] for n in names if found.get(n)), None)
            return then(value) if then is not None else value
        return self.spread([first(h) for h in self.names])

    def get(self, name: str) -> pl.Series:
        """Header ``name`` (exactly so) in each row's headers."""
        return self.spread([h.get(name) for h in self.names])

    @functools.cached_property
    def _by_row(self) -> dict[int, int]:
        return dict(zip(self._rows, self._codes, strict=True))

    def code_of(self, row: int) -> int | None:
        """Row ``row``'s distinct header block (None if it has none)."""
        return self._by_row.get(row)

    def text(self, row: int) -> str | None:
        """Row ``row``'s headers as JSON text (None if it has none)."""
        code = self._by_row.get(row)
        return None if code is None else self.texts[code]


def _sparse(name: str, n: int, values: Mapping[int, str | None]) -> pl.Series:
    column = pl.repeat(None, n, dtype=pl.String, eager=True).rename(name)
    return column.scatter(list(values), list(values.values())) if values else column


def _provisional(rules: Rules, subject: pl.Series, sets: HeaderSets) -> pl.Series:
    """Each message's type by the header and subject places of the type rule (before decoding)."""
    out = pl.repeat(None, len(subject), dtype=pl.String, eager=True)
    for rule in rules.type:
        if rule.source == "header":
            if sets.texts:
                out = out.fill_null(sets.get(rule.name))
        elif rule.source == "subject":
            out = out.fill_null(subject.str.split(".").list.get(int(rule.name), null_on_oob=True))
    return out.rename("ptype")


def _mapped(values: pl.Series, lookup: Callable[[Any], str | None]) -> pl.Series:
    """``lookup`` of each value, called once per distinct value."""
    distinct = values.drop_nulls().unique().to_list()
    if not distinct:
        return pl.repeat(None, len(values), dtype=pl.String, eager=True)
    return values.replace_strict(distinct, [lookup(v) for v in distinct], default=None,
                                 return_dtype=pl.String)


def _kinds(formats: FormatRules, sets: HeaderSets, data: pl.Series, ptype: pl.Series,
           writers: Schemas) -> pl.Series:
    """Each message's format by the rules, for the whole batch (JSON where no place answers)."""
    kind = pl.repeat(None, len(data), dtype=pl.String, eager=True)
    for place in formats.places:
        if not kind.null_count():
            break
        if place.startswith("header:"):
            found = sets.first([place[7:].lower()], content_format)
        elif place == "magic":
            confluent = data.bin.starts_with(b"\x00") & (data.bin.size() >= 5)
            ids = data.bin.slice(1, 4).bin.reinterpret(dtype=pl.UInt32, endianness="big")
            by_id = _mapped(ids.zip_with(confluent, pl.repeat(None, len(ids), dtype=pl.UInt32,
                                                                eager=True)),
                            lambda i: e.format if (e := writers.by_id(i)) else "confluent")
            single = data.bin.starts_with(b"\xc3\x01") & (data.bin.size() >= 10)
            found = by_id.zip_with(~single, pl.repeat("avro", len(ids), dtype=pl.String,
                                                      eager=True))
        elif place == "registry":
            found = _mapped(ptype, lambda t: e.format if (e := writers.by_type(t)) else None)
        else:
            found = pl.repeat(place, len(data), dtype=pl.String, eager=True)
        kind = kind.fill_null(found)
    return kind.fill_null("json")


def _json_part(rows: list[int], seq: pl.Series, time: pl.Series, subject: pl.Series,
               headers: Mapping[int, bytes], data: pl.Series, body: list[bytes],
               sets: HeaderSets, extra: dict[int, dict[str, str]], special: set[int],
               rewritten: bool, rules: Rules, json_decode: JsonDecode, options: dict[str, Any]
               ) -> Part:
    index = pl.Series(rows, dtype=pl.UInt32)
    blocks: dict[int, bytes] = {}
    wanted = [name.lower() for name in rules.headers()]
    if not wanted:  # no rule reads a header: none is parsed again, all are put back below
        withheld = bool(headers)
    else:
        read = [any(f'"{name}"' in text.lower() for name in wanted) for text in sets.texts]
        withheld = False
        for k, i in enumerate(rows):
            if i in extra:
                real = orjson.loads(text) if (text := sets.text(i)) else None
                blocks[k] = one.header_block(real, extra[i])
            elif i in headers:
                if read[sets.code_of(i) or 0]:
                    blocks[k] = headers[i]
                else:  # the JSON decode need not parse it again: put back below
                    withheld = True
    whole = len(rows) == len(body)  # (rows are in order)
    out = json_decode(seq if whole else seq.gather(index), time if whole else time.gather(index),
                      subject.to_list() if whole else subject.gather(index).to_list(), blocks,
                      body if whole else [body[i] for i in rows], rules, **options)
    typed = {t: [f] for t, f in out.typed.items()}
    if not (withheld or extra or rewritten) and not any(i in special for i in rows):  # as read
        return Part(out.envelope, typed)
    env = out.envelope.with_columns(data if whole else data.gather(index),
                                    sets.hjson if whole else sets.hjson.gather(index))
    return Part(env, typed)


def _groups(rows: list[int], kind: pl.Series, data: pl.Series, ptype: pl.Series,
            body: list[bytes], special: set[int], errors: dict[int, str], writers: Schemas
            ) -> tuple[list[tuple[list[int], pl.DataFrame]], dict[int, dict[str, Any]]]:
    """The non-JSON messages decoded per writer schema: ``(rows, frame)`` per group, and the
    MessagePack maps by row; the reasons of those that do not decode go into ``errors``."""
    members: dict[Any, list[int]] = {}
    bodies: dict[int, bytes] = {}
    framing: dict[int, int] = {}  # Protobuf: Confluent's bytes still before a body (cut later)
    msgpack_rows: list[int] = []
    aside = special.union(errors)
    plain = [i for i in rows if i not in aside] if aside else rows
    if plain:
        frame = pl.DataFrame({"row": pl.Series(plain, dtype=pl.UInt32)}).with_columns(
            kind=kind.gather(plain), ptype=ptype.gather(plain), data=data.gather(plain))
        frame = frame.with_columns(
            sid=pl.when(pl.col("data").bin.starts_with(b"\x00") & (pl.col("data").bin.size() >= 5))
            .then(pl.col("data").bin.slice(1, 4).bin.reinterpret(dtype=pl.UInt32,
                                                                  endianness="big")),
            fp=pl.when((pl.col("kind") == "avro") & pl.col("data").bin.starts_with(b"\xc3\x01")
                       & (pl.col("data").bin.size() >= 10)).then(pl.col("data").bin.slice(2, 8)),
            # Confluent's message indexes, when one byte says it: [0] is 00, [k] is 02 2k
            index=pl.when(pl.col("data").bin.slice(5, 1) == b"\x00").then(pl.lit(0))
            .when((pl.col("data").bin.slice(5, 1) == b"\x02")
                  & (pl.col("data").bin.size() >= 7)).then(
                pl.col("data").bin.slice(6, 1).bin.reinterpret(dtype=pl.UInt8).cast(pl.Int32))
            .otherwise(None))
        frame = frame.with_columns(pl.when(pl.col("index") < 128).then(pl.col("index") // 2)
                                   .alias("index"), skip=pl.when(pl.col("index") == 0).then(6)
                                   .when(pl.col("index") < 128).then(7))
        msgpack_rows = frame.filter(pl.col("kind") == "msgpack").get_column("row").to_list()
        rest = frame.filter(pl.col("kind") != "msgpack").drop("data")
        for (k, sid, fp, t), part in rest.group_by("kind", "sid", "fp", "ptype",
                                                    maintain_order=True):
            _plain_group(part, k, sid, fp, t, body, members, bodies, errors, writers, framing)
    for i in sorted(special & set(rows)):
        if i in errors:
            continue
        key, framed, why = one.group_of(kind[i], body[i], ptype[i], writers)
        if why:
            errors[i] = why
        elif key == "msgpack":
            msgpack_rows.append(i)
        else:
            members.setdefault(key, []).append(i)
            bodies[i] = framed
    decoded = []
    for key, group in members.items():
        frame, bad = _decode_group(key, [bodies[i] for i in group],
                                   [framing.get(i, 0) for i in group] if framing else None)
        if _registered(key):  # the registered message itself: old versions upcast
            frame = writers.newest(key[0], frame)
        errors.update({group[k]: why for k, why in bad.items()})
        decoded.append(([i for k, i in enumerate(group) if k not in bad] if bad else group,
                        frame))
    maps: dict[int, dict[str, Any]] = {}
    if msgpack_rows:
        msgpack_rows.sort()
        values, bad = messagepack.unpack([body[i] for i in msgpack_rows])
        errors.update({msgpack_rows[k]: why for k, why in bad.items()})
        maps = {i: v for i, v in zip(msgpack_rows, values, strict=True) if v is not None}
    return decoded, maps


def _plain_group(part: pl.DataFrame, kind: str, sid: int | None, fp: bytes | None,
                 event_type: str | None, body: list[bytes], members: dict[Any, list[int]],
                 bodies: dict[int, bytes], errors: dict[int, str], writers: Schemas,
                 framing: dict[int, int]) -> None:
    """One group of messages that share format and schema id (or fingerprint, or type)."""
    rows = part.get_column("row").to_list()
    entry, skip = None, 0
    if sid is not None:
        entry, skip = writers.by_id(sid), 5
        why = f"{kind}: unknown schema id {sid}"
    elif fp is not None:
        entry, skip = writers.by_fingerprint(fp), 10
        why = f"avro: unknown schema fingerprint {fp.hex()}"
    else:
        entry = writers.by_type(event_type) if event_type else None
        if kind == "confluent" or entry is None or entry.format != kind:
            entry = None
        why = (f"{kind}: no {kind} schema registered for type {event_type!r} (register one, "
               "or send a Confluent schema id)")
    if entry is None:
        errors.update(dict.fromkeys(rows, why))
        return
    if entry.format == "protobuf" and sid is not None:  # message indexes after the id
        for (index, skip), same in part.group_by("index", "skip", maintain_order=True):
            if index is None:
                continue
            found = same.get_column("row").to_list()  # one index in one byte (for the batch)
            members.setdefault((entry, (index,), "id"), []).extend(found)
            bodies.update(zip(found, map(body.__getitem__, found), strict=True))
            framing.update(dict.fromkeys(found, skip))  # cut by the bulk read
        for i in part.filter(pl.col("index").is_null()).get_column("row").to_list():
            try:
                path, at = one.message_indexes(body[i], 5)
            except IndexError:
                errors[i] = f"protobuf schema id {sid}: truncated message indexes"
                continue
            members.setdefault((entry, path, "id"), []).append(i)
            bodies[i] = body[i][at:]
        return
    # apart from other ways to the same schema: a group framed one way, so that payloads
    # that only claim the type (the registry's schema, no framing) do not spoil a bulk read
    origin = "id" if sid is not None else "fingerprint" if fp is not None else "type"
    members.setdefault((entry, (), origin), []).extend(rows)
    bodies.update({i: body[i][skip:] for i in rows} if skip else {i: body[i] for i in rows})


def _registered(key: Group) -> bool:
    """Whether a group's records are of its schema's own message (not another message of
    the same Protobuf file, which Confluent's indexes may name)."""
    entry, path, _ = key
    if entry.format != "protobuf" or path in ((), (0,)):
        return True
    return bool(one.nested_message(entry.schema, path).DESCRIPTOR.full_name
                == entry.schema.DESCRIPTOR.full_name)


def _decode_group(key: Group, bodies: list[bytes], skip: list[int] | None = None
                  ) -> tuple[pl.DataFrame, dict[int, str]]:
    entry, path, _ = key
    what = f"{entry.format} schema {entry.event_type} v{entry.version}" + (
        f" (id {entry.schema_id})" if entry.schema_id is not None else "")
    if entry.format == "avro":
        return avro.read_records(bodies, entry.schema, what=what)
    message = entry.schema
    if path and path != (0,):  # [0] (the byte 00) is the registered message itself
        message = one.nested_message(message, path)
    return protobuf.read_messages(bodies, message, what=what, skip=skip)


def _text_fields(frame: pl.DataFrame, fields: list[str]) -> list[pl.Series]:
    """The rule fields of decoded payloads as text, as the envelope rules read them."""
    out = []
    for f in fields:
        if f not in frame.columns:
            continue
        col = frame.get_column(f)
        if isinstance(col.dtype, pl.Datetime):
            col = col.dt.convert_time_zone("UTC") if col.dtype.time_zone else col
            col = col.dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ")
        elif col.dtype.is_nested() or col.dtype == pl.Binary:
            continue
        out.append(col.cast(pl.String).rename(field_column(f)))
    return out


def _other_part(rows: list[int], seq: pl.Series, time: pl.Series, subject: pl.Series,
                hjson: pl.Series, data: pl.Series, extra: dict[int, dict[str, str]],
                errors: dict[int, str], decoded: list[tuple[list[int], pl.DataFrame]],
                maps: dict[int, dict[str, Any]], rules: Rules) -> Part:
    """The envelope and typed tables of the messages that are not JSON."""
    index = pl.Series("__row", rows, dtype=pl.UInt32)
    fields = rules.fields()
    pieces = [pl.DataFrame([pl.Series("__row", members, dtype=pl.UInt32),
                            *_text_fields(frame, fields)])
              for members, frame in decoded if members]
    if maps:
        pieces.append(pl.concat([pl.DataFrame({"__row": pl.Series(list(maps), dtype=pl.UInt32)}),
                                 _map_fields(list(maps.values()), fields)], how="horizontal"))
    frame = pl.DataFrame([
        index, seq.gather(index).rename("seq").cast(pl.UInt64), subject.gather(index),
        time.gather(index).rename("time"), data.gather(index),
        _sparse("error", len(data), errors).gather(index)])
    seen = hjson.gather(index)
    if extra:
        at = {i: k for k, i in enumerate(rows)}
        moved = {at[i]: orjson.dumps({**attrs, **orjson.loads(hjson[i] or "{}")}).decode()
                 for i, attrs in extra.items() if i in at}
        seen = seen.scatter(list(moved), list(moved.values()))
    frame = frame.with_columns(seen)
    if pieces:
        found_fields = pl.concat(pieces, how="diagonal_relaxed")
        frame = frame.join(found_fields, on="__row", how="left", maintain_order="left")
    for f in fields:
        if field_column(f) not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.String).alias(field_column(f)))
    env = rules.apply(frame.with_columns(pl.col(field_column(f)).cast(pl.String)
                                         for f in fields))
    typed = _typed(env.select("__row", "seq", "type"), decoded, maps, rules)
    env = env.select(list(ENVELOPE_SCHEMA)).with_columns(hjson.gather(index))
    return Part(env, typed)


def _map_fields(maps: list[dict[str, Any]], fields: list[str]) -> pl.DataFrame:
    """The rule fields of MessagePack maps as text (one builder call; row by row where a
    value is not a scalar polars turns into text: a timestamp, a map)."""
    names = [field_column(f) for f in fields]
    scalar = all(v is None or isinstance(v, str | int | float | bool)
                 for m in maps[:1] for v in (m.get(f) for f in fields))
    if scalar and fields:
        try:
            out = pl.from_dicts(maps, schema=dict.fromkeys(fields, pl.String()), strict=False)
            ok = all(out.get_column(f).null_count() == sum(m.get(f) is None for m in maps)
                     for f in fields)
            if ok:
                return out.rename(dict(zip(fields, names, strict=True)))
        except (pl.exceptions.PolarsError, TypeError, ValueError):
            pass
    return pl.DataFrame({n: [_text(m.get(f)) for m in maps] for f, n in zip(fields, names,
                                                                            strict=True)},
                        schema=dict.fromkeys(names, pl.String()))


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list | bytes):
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _typed(keys: pl.DataFrame, decoded: list[tuple[list[int], pl.DataFrame]],
           maps: dict[int, dict[str, Any]], rules: Rules) -> dict[str, list[pl.DataFrame]]:
    """Per type: ``seq`` and the payload fields, from each group's decoded frame."""
    consumed = {name for name in ("type", "key", "event_time")
                if any(r.source == "field" and r.name == name for r in getattr(rules, name))}
    pieces: dict[str, list[pl.DataFrame]] = {}
    at = keys.get_column("__row")  # in row order: members are found by a binary search
    for members, frame in decoded:
        if not members:
            continue
        head = keys.gather(at.search_sorted(pl.Series(members, dtype=pl.UInt32)))
        whole = pl.concat([head.select("seq", "type"), _names(frame, consumed)],
                          how="horizontal")
        for (event_type,), part in whole.partition_by("type", as_dict=True,
                                                      maintain_order=True).items():
            if event_type is not None:
                pieces.setdefault(str(event_type), []).append(part.drop("type"))
    if maps:
        head = pl.DataFrame({"__row": pl.Series(list(maps), dtype=pl.UInt32)}).join(
            keys, on="__row", how="left", maintain_order="left")
        for (event_type,), part in head.partition_by("type", as_dict=True,
                                                     maintain_order=True).items():
            if event_type is None:
                continue
            frame = messagepack.frame([maps[i] for i in part.get_column("__row").to_list()])
            pieces.setdefault(str(event_type), []).append(
                pl.concat([part.select("seq"), _names(frame, consumed)], how="horizontal"))
    return pieces


def _names(frame: pl.DataFrame, consumed: set[str]) -> pl.DataFrame:
    frame = frame.drop(*consumed, strict=False)
    clash = {c: payload_column(c) for c in frame.columns if payload_column(c) != c}
    return frame.rename(clash) if clash else frame
