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

``data`` and ``headers`` keep what the server stored. A payload that does not
decode is kept, flagged in ``error`` with its format, schema and the reason.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
import polars as pl

from eventkit.codec import EMPTY, Decoded, header_json, union
from eventkit.envelope import ENVELOPE_SCHEMA, Rules, field_column, payload_column
from eventkit.formats import avro, messagepack, protobuf
from eventkit.formats.rules import FormatRules, content_format
from eventkit.formats.schemas import Schemas, WriterSchema
from eventkit.source._protocol import parse_headers

__all__ = ["decode_mixed", "needs_formats"]

JsonDecode = Callable[..., Decoded]
_ENCODING = ("content-encoding", "ce-contentencoding")


def needs_formats(headers: Mapping[int, bytes], payloads: Sequence[bytes],
                  formats: FormatRules) -> bool:
    """Whether any message of a batch may be other than plain JSON (cheap: no parsing)."""
    if formats.only == "json":
        return False
    if formats.only is not None:
        return True
    if any(b"content-" in block.lower() for block in headers.values()):
        return True
    return any(p[:1] != b"{" for p in payloads)


def decode_mixed(
    seq: pl.Series, time: pl.Series, subjects: Sequence[bytes] | Sequence[str],
    headers: Mapping[int, bytes], payloads: Sequence[bytes], rules: Rules, *,
    formats: FormatRules, writers: Schemas, json_decode: JsonDecode, **json_options: Any,
) -> Decoded:
    """Decode a batch message by message format (see the module docstring)."""
    n = len(payloads)
    names = [parse_headers(headers[i])[2] if i in headers else None for i in range(n)]
    body = list(payloads)
    errors: dict[int, str] = {}
    extra: dict[int, dict[str, str]] = {}  # headers the envelope rules see besides the real ones
    for i, h in enumerate(names):
        if h and (coding := _get(h, _ENCODING)):
            try:
                body[i] = _decompress(body[i], coding)
            except Exception as exc:
                errors[i] = f"content-encoding {coding}: {exc}"
    for i, raw in enumerate(body):
        if not raw.strip() and i not in errors:
            errors[i] = EMPTY  # as for JSON: no event in no bytes (even if a format could read it)
    subject_list = [s.decode() if isinstance(s, bytes) else s for s in subjects]
    provisional = _provisional_types(rules, subject_list, names)
    kinds = [None if i in errors else _format(formats, names[i], body[i], provisional[i], writers)
             for i in range(n)]
    for i, kind in enumerate(kinds):
        if kind == "cloudevents":
            try:
                body[i], extra[i], kinds[i] = _unwrap(body[i])
                provisional[i] = extra[i].get("ce-type") or provisional[i]
                if kinds[i] is None:
                    kinds[i] = _format(FormatRules(("magic", "registry", "json")), None,
                                       body[i], provisional[i], writers)
            except ValueError as exc:
                errors[i] = f"cloudevents: {exc}"
    json_rows = [i for i in range(n) if kinds[i] == "json" and i not in errors]
    taken = set(json_rows)
    other = [i for i in range(n) if i not in taken]
    parts: list[Decoded] = []
    if json_rows:
        parts.append(_json_part(json_rows, seq, time, subject_list, headers, payloads, body,
                                names, extra, rules, json_decode, json_options))
    if other:
        parts.append(_other_part(other, kinds, seq, time, subject_list, headers, payloads, body,
                                 names, extra, provisional, errors, rules, writers))
    return _merge(parts)


def _get(headers: Mapping[str, str], keys: Sequence[str]) -> str | None:
    lower = {k.lower(): v for k, v in headers.items()}
    for k in keys:
        if lower.get(k):
            return lower[k].strip().lower()
    return None


def _decompress(data: bytes, coding: str) -> bytes:
    if coding in ("gzip", "x-gzip"):
        return gzip.decompress(data)
    if coding == "zstd":
        try:
            import zstandard
        except ImportError as exc:
            from eventkit._deps import missing
            raise missing("zstandard", "reading zstd payloads") from exc
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    if coding == "identity":
        return data
    raise ValueError("unknown encoding (gzip and zstd are read)")


def _provisional_types(rules: Rules, subjects: list[str],
                       names: list[dict[str, str] | None]) -> list[str | None]:
    """Each message's type by the header and subject places of the type rule (before decoding)."""
    out: list[str | None] = []
    for subject, h in zip(subjects, names, strict=True):
        found = None
        for rule in rules.type:
            if rule.source == "header" and h:
                found = h.get(rule.name)
            elif rule.source == "subject":
                tokens = subject.split(".")
                k = int(rule.name)
                found = tokens[k] if -len(tokens) <= k < len(tokens) else None
            if found:
                break
        out.append(found)
    return out


def _format(formats: FormatRules, h: Mapping[str, str] | None, data: bytes,
            event_type: str | None, schemas: Schemas) -> str:
    """One message's format, by the rules (JSON when no place answers)."""
    for place in formats.places:
        if place.startswith("header:"):
            found = content_format(_get(h, [place[7:].lower()]) if h else None)
        elif place == "magic":
            found = _magic(data, schemas)
        elif place == "registry":
            entry = schemas.by_type(event_type) if event_type else None
            found = entry.format if entry is not None else None
        else:
            found = place
        if found:
            return found
    return "json"


def _magic(data: bytes, schemas: Schemas) -> str | None:
    if len(data) >= 5 and data[0] == 0:
        entry = schemas.by_id(int.from_bytes(data[1:5], "big"))
        return entry.format if entry is not None else "confluent"
    if len(data) >= 10 and data[:2] == b"\xc3\x01":
        return "avro"
    return None


def _unwrap(raw: bytes) -> tuple[bytes, dict[str, str], str | None]:
    """A structured CloudEvent's payload, its attributes as ``ce-*`` headers, and data format."""
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"structured event is not JSON: {exc}") from None
    if not isinstance(event, dict) or "specversion" not in event:
        raise ValueError("structured event has no specversion")
    attrs = {f"ce-{k}": v if isinstance(v, str) else orjson.dumps(v).decode()
             for k, v in event.items() if k not in ("data", "data_base64")}
    kind = content_format(event.get("datacontenttype"))
    if "data_base64" in event:
        try:
            data = base64.b64decode(event["data_base64"], validate=True)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"data_base64 is not base64: {exc}") from None
    else:
        value = event.get("data")
        data = value.encode() if isinstance(value, str) and kind not in (None, "json") \
            else orjson.dumps(value)
        kind = kind or "json"
    if kind is not None:
        attrs["content-type"] = event.get("datacontenttype") or "application/json"
    return data, attrs, kind


def _block(real: Mapping[str, str] | None, extra: Mapping[str, str]) -> bytes:
    """A NATS header block of ``real`` headers plus ``extra`` (what the envelope rules read)."""
    merged = {**extra, **(real or {})}
    lines = "".join(f"{k}: {v}\r\n" for k, v in merged.items())
    return f"NATS/1.0\r\n{lines}\r\n".encode()


def _json_part(rows: list[int], seq: pl.Series, time: pl.Series, subjects: list[str],
               headers: Mapping[int, bytes], payloads: Sequence[bytes], body: list[bytes],
               names: list[dict[str, str] | None], extra: dict[int, dict[str, str]],
               rules: Rules, json_decode: JsonDecode, options: dict[str, Any]) -> Decoded:
    index = pl.Series(rows, dtype=pl.UInt32)
    blocks = {k: (_block(names[i], extra[i]) if i in extra else headers[i])
              for k, i in enumerate(rows) if i in extra or i in headers}
    out = json_decode(seq.gather(index), time.gather(index), [subjects[i] for i in rows],
                      blocks, [body[i] for i in rows], rules, **options)
    changed = any(i in extra or body[i] is not payloads[i] for i in rows)
    if not changed:
        return out
    env = out.envelope.with_columns(
        pl.Series("data", [payloads[i] for i in rows], dtype=pl.Binary),
        pl.Series("headers", [header_json(headers.get(i)) for i in rows], dtype=pl.String))
    return Decoded(env, out.typed)


def _other_part(rows: list[int], kinds: list[str | None], seq: pl.Series, time: pl.Series,
                subjects: list[str], headers: Mapping[int, bytes], payloads: Sequence[bytes],
                body: list[bytes], names: list[dict[str, str] | None],
                extra: dict[int, dict[str, str]], provisional: list[str | None],
                errors: dict[int, str], rules: Rules, schemas: Schemas) -> Decoded:
    """The envelope and typed tables of the messages that are not JSON."""
    groups: dict[Any, list[int]] = {}
    bodies: dict[int, bytes] = {}
    for i in rows:
        if i in errors:
            continue
        key, framed, why = _group(kinds[i], body[i], provisional[i], schemas)
        if why:
            errors[i] = why
        else:
            groups.setdefault(key, []).append(i)
            bodies[i] = framed
    decoded: list[tuple[list[int], pl.DataFrame]] = []
    maps: dict[int, dict[str, Any]] = {}
    for key, members in groups.items():
        if key == "msgpack":
            values, bad = messagepack.unpack([bodies[i] for i in members])
            errors.update({members[k]: why for k, why in bad.items()})
            maps.update({i: v for i, v in zip(members, values, strict=True) if v is not None})
            continue
        frame, bad = _decode_group(key, [bodies[i] for i in members])
        errors.update({members[k]: why for k, why in bad.items()})
        decoded.append(([i for k, i in enumerate(members) if k not in bad], frame))
    fields = rules.fields()
    envelope = _envelope(rows, seq, time, subjects, headers, payloads, names, extra, errors,
                         fields, decoded, maps, rules)
    return Decoded(envelope, _typed(rows, envelope, decoded, maps, rules))


def _group(kind: str | None, data: bytes, event_type: str | None, schemas: Schemas
           ) -> tuple[Any, bytes, str | None]:
    """The decoding group of one payload (format and writer schema), its body, or why none."""
    if kind == "msgpack":
        return "msgpack", data, None
    if len(data) >= 5 and data[0] == 0:  # Confluent: magic byte, schema id, (message indexes)
        schema_id = int.from_bytes(data[1:5], "big")
        entry = schemas.by_id(schema_id)
        if entry is None:
            return None, b"", f"{kind or 'confluent'}: unknown schema id {schema_id}"
        if entry.format == "protobuf":
            try:
                path, offset = _message_indexes(data, 5)
                return (entry, path), data[offset:], None
            except IndexError:
                return None, b"", f"protobuf schema id {schema_id}: truncated message indexes"
        return (entry, ()), data[5:], None
    if kind == "avro" and data[:2] == b"\xc3\x01" and len(data) >= 10:
        entry = schemas.by_fingerprint(data[2:10])
        if entry is None:
            return None, b"", f"avro: unknown schema fingerprint {data[2:10].hex()}"
        return (entry, ()), data[10:], None
    entry = schemas.by_type(event_type) if event_type else None
    if kind == "confluent":
        return None, b"", "confluent: unknown schema id"
    if entry is None or entry.format != kind:
        return None, b"", (f"{kind}: no {kind} schema registered for type "
                           f"{event_type!r} (register one, or send a Confluent schema id)")
    return (entry, ()), data, None


def _message_indexes(data: bytes, at: int) -> tuple[tuple[int, ...], int]:
    """Confluent's message indexes (zigzag varints: a count, then the path), and the offset after.

    >>> _message_indexes(b"\\x00", 0), _message_indexes(b"\\x04\\x02\\x00", 0)
    (((0,), 1), ((1, 0), 3))
    """
    def varint(pos: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = data[pos]
            value |= (byte & 0x7F) << shift
            pos += 1
            if not byte & 0x80:
                return (value >> 1) ^ -(value & 1), pos
            shift += 7

    count, at = varint(at)
    if count == 0:
        return (0,), at
    path = []
    for _ in range(count):
        k, at = varint(at)
        path.append(k)
    return tuple(path), at


def _decode_group(key: tuple[WriterSchema, tuple[int, ...]], bodies: list[bytes]
                  ) -> tuple[pl.DataFrame, dict[int, str]]:
    entry, path = key
    what = f"{entry.format} schema {entry.event_type} v{entry.version}" + (
        f" (id {entry.schema_id})" if entry.schema_id is not None else "")
    if entry.format == "avro":
        return avro.read_records(bodies, entry.schema, what=what)
    message = entry.schema
    if path and path != (0,):
        message = _nested_message(message, path)
    return protobuf.read_messages(bodies, message, what=what)


def _nested_message(message: Any, path: tuple[int, ...]) -> Any:
    """The message a Confluent index path names (from the file of ``message``)."""
    from google.protobuf import message_factory

    descriptor = message.DESCRIPTOR.file.message_types_by_name
    d = list(descriptor.values())[path[0]]
    for k in path[1:]:
        d = d.nested_types[k]
    return message_factory.GetMessageClass(d)


def _text_fields(frame: pl.DataFrame, fields: list[str]) -> dict[str, pl.Series]:
    out = {}
    for f in fields:
        if f not in frame.columns:
            continue
        col = frame.get_column(f)
        if isinstance(col.dtype, pl.Datetime):
            col = col.dt.convert_time_zone("UTC") if col.dtype.time_zone else col
            col = col.dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ")
        elif col.dtype.is_nested() or col.dtype == pl.Binary:
            continue
        out[f] = col.cast(pl.String)
    return out


def _envelope(rows: list[int], seq: pl.Series, time: pl.Series, subjects: list[str],
              headers: Mapping[int, bytes], payloads: Sequence[bytes],
              names: list[dict[str, str] | None], extra: dict[int, dict[str, str]],
              errors: dict[int, str], fields: list[str],
              decoded: list[tuple[list[int], pl.DataFrame]], maps: dict[int, dict[str, Any]],
              rules: Rules) -> pl.DataFrame:
    position = {i: k for k, i in enumerate(rows)}
    index = pl.Series(rows, dtype=pl.UInt32)
    columns: dict[str, list[str | None]] = {f: [None] * len(rows) for f in fields}
    for members, frame in decoded:
        for f, values in _text_fields(frame, fields).items():
            for i, v in zip(members, values.to_list(), strict=True):
                columns[f][position[i]] = v
    for i, m in maps.items():
        for f in fields:
            v = m.get(f)
            if v is not None and not isinstance(v, dict | list | bytes):
                columns[f][position[i]] = v.isoformat() if hasattr(v, "isoformat") else str(v)
    seen = [orjson.dumps({**extra.get(i, {}), **(names[i] or {})}).decode()
            if i in extra or names[i] else None for i in rows]
    frame = pl.DataFrame([
        seq.gather(index).rename("seq").cast(pl.UInt64),
        pl.Series("subject", [subjects[i] for i in rows], dtype=pl.String),
        time.gather(index).rename("time"),
        pl.Series("headers", seen, dtype=pl.String),
        pl.Series("data", [payloads[i] for i in rows], dtype=pl.Binary),
        pl.Series("error", [errors.get(i) for i in rows], dtype=pl.String),
        *[pl.Series(field_column(f), v, dtype=pl.String) for f, v in columns.items()],
    ])
    env = rules.apply(frame).select(list(ENVELOPE_SCHEMA))
    return env.with_columns(pl.Series("headers", [header_json(headers.get(i)) for i in rows],
                                      dtype=pl.String))


def _typed(rows: list[int], envelope: pl.DataFrame, decoded: list[tuple[list[int], pl.DataFrame]],
           maps: dict[int, dict[str, Any]], rules: Rules) -> dict[str, pl.DataFrame]:
    position = {i: k for k, i in enumerate(rows)}
    types = envelope.get_column("type").to_list()
    seqs = envelope.get_column("seq")
    consumed = {name for name in ("type", "key", "event_time")
                if any(r.source == "field" and r.name == name for r in getattr(rules, name))}
    pieces: dict[str, list[pl.DataFrame]] = {}
    for members, frame in decoded:
        if not members:
            continue
        at = pl.Series([position[i] for i in members], dtype=pl.UInt32)
        kinds = pl.Series("__type", [types[position[i]] for i in members], dtype=pl.String)
        whole = pl.concat([seqs.gather(at).to_frame(), _names(frame, consumed),
                           kinds.to_frame()], how="horizontal")
        for (event_type,), part in whole.partition_by("__type", as_dict=True,
                                                      maintain_order=True).items():
            if event_type is not None:
                pieces.setdefault(str(event_type), []).append(part.drop("__type"))
    by_type: dict[str, list[int]] = {}
    for i in maps:
        if types[position[i]] is not None:
            by_type.setdefault(types[position[i]], []).append(i)
    for event_type, members in by_type.items():
        frame = messagepack.frame([maps[i] for i in members])
        at = pl.Series([position[i] for i in members], dtype=pl.UInt32)
        pieces.setdefault(event_type, []).append(
            pl.concat([seqs.gather(at).to_frame(), _names(frame, consumed)], how="horizontal"))
    return {t: union(ps).sort("seq") if len(ps) > 1 else ps[0] for t, ps in pieces.items()}


def _names(frame: pl.DataFrame, consumed: set[str]) -> pl.DataFrame:
    frame = frame.drop(*consumed, strict=False)
    clash = {c: payload_column(c) for c in frame.columns if payload_column(c) != c}
    return frame.rename(clash) if clash else frame


def _merge(parts: list[Decoded]) -> Decoded:
    if len(parts) == 1:
        return parts[0]
    envelope = pl.concat([p.envelope for p in parts]).sort("seq")
    by_type: dict[str, list[pl.DataFrame]] = {}
    for p in parts:
        for t, f in p.typed.items():
            by_type.setdefault(t, []).append(f)
    return Decoded(envelope, {t: union(fs).sort("seq") if len(fs) > 1 else fs[0]
                              for t, fs in by_type.items()})
