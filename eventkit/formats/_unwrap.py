"""One message at a time, where it must be: compression, CloudEvents envelopes, framings.

These run only on the few messages that need them (a compressed payload, a
structured CloudEvent, a Protobuf message index other than the first
message); everything else is found for a whole batch at once in
:mod:`eventkit.formats.mixed`.
"""

from __future__ import annotations

import base64
import functools
import gzip
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from eventkit.formats.rules import FormatRules, content_format
from eventkit.formats.schemas import Schemas

__all__ = [
    "decompress",
    "format_of",
    "get_header",
    "group_of",
    "header_block",
    "message_indexes",
    "nested_message",
    "structured_data",
    "unwrap",
    "unwrap_many",
]


def get_header(headers: Mapping[str, str], keys: Sequence[str]) -> str | None:
    lower = {k.lower(): v for k, v in headers.items()}
    for k in keys:
        if lower.get(k):
            return lower[k].strip().lower()
    return None


def decompress(data: bytes, coding: str) -> bytes:
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


def format_of(formats: FormatRules, h: Mapping[str, str] | None, data: bytes,
            event_type: str | None, schemas: Schemas) -> str:
    """One message's format, by the rules (JSON when no place answers)."""
    for place in formats.places:
        if place.startswith("header:"):
            found = content_format(get_header(h, [place[7:].lower()]) if h else None)
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


def unwrap(raw: bytes) -> tuple[bytes, dict[str, str], str | None]:
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


def unwrap_many(raws: Sequence[bytes]
                ) -> list[tuple[bytes, dict[str, str], str | None] | Exception]:
    """:func:`unwrap` of a batch's structured events (the error in place of a bad one's
    result): the common case (``data`` JSON, text attributes) in one lean pass.

    >>> body, attrs, kind = unwrap_many([b'{"specversion":"1.0","type":"t","data":{"n":1}}'])[0]
    >>> body, kind, attrs
    (b'{"n":1}', 'json', {'ce-specversion': '1.0', 'ce-type': 't', 'content-type': ...})
    >>> unwrap_many([b'[]'])
    [ValueError('structured event has no specversion')]
    """
    loads, dumps = orjson.loads, orjson.dumps
    out: list[tuple[bytes, dict[str, str], str | None] | Exception] = []
    for raw in raws:
        try:
            event = loads(raw)
        except orjson.JSONDecodeError:
            event = None
        if (type(event) is dict and "specversion" in event and "data_base64" not in event
                and event.get("datacontenttype", "application/json") == "application/json"):
            attrs = {"ce-" + k: v for k, v in event.items() if k != "data"}
            if set(map(type, attrs.values())) == {str}:  # (C loops, not a Python one)
                attrs["content-type"] = "application/json"
                out.append((dumps(event.get("data")), attrs, "json"))
                continue
        try:
            out.append(unwrap(raw))
        except Exception as exc:  # a bad envelope: its reason, the batch goes on
            out.append(exc)
    return out


@functools.cache
def _data_decoder() -> Any:
    """A msgspec decoder of a structured event's ``data`` as its raw JSON text, and of what
    says whether that is all there is to it (``specversion``, ``datacontenttype``,
    ``data_base64``); other attributes are skipped."""
    try:
        import msgspec
    except ImportError as exc:
        from eventkit._deps import missing
        raise missing("msgspec", "reading structured CloudEvents") from exc

    structured = msgspec.defstruct("Structured", [
        ("specversion", Any), ("datacontenttype", Any, "application/json"),
        ("data", msgspec.Raw, msgspec.Raw()), ("data_base64", msgspec.Raw, msgspec.Raw())])
    return msgspec.json.Decoder(structured).decode, msgspec.DecodeError


def structured_data(raws: Sequence[bytes]) -> list[bytes | None]:
    """The ``data`` of structured events as its JSON text, as it stands in the event (one C
    call per event, no Python objects built for it); None for the events that need
    :func:`unwrap`: data in another format or base64, no ``specversion``, not JSON.

    >>> structured_data([b'{"specversion":"1.0","type":"t","data":{"n": [1]}}', b'[]',
    ...                  b'{"specversion":"1.0","data_base64":"AA=="}'])
    [b'{"n": [1]}', None, None]
    """
    decode, refused = _data_decoder()
    out: list[bytes | None] = []
    add = out.append
    for raw in raws:
        try:
            event = decode(raw)
        except refused:
            add(None)
            continue
        if (event.datacontenttype == "application/json" and event.data
                and not event.data_base64):
            add(bytes(event.data))
        else:
            add(None)
    return out


def header_block(real: Mapping[str, str] | None, extra: Mapping[str, str]) -> bytes:
    """A NATS header block of ``real`` headers plus ``extra`` (what the envelope rules read)."""
    merged = {**extra, **(real or {})}
    lines = "".join(f"{k}: {v}\r\n" for k, v in merged.items())
    return f"NATS/1.0\r\n{lines}\r\n".encode()


def group_of(kind: str | None, data: bytes, event_type: str | None, schemas: Schemas
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
                path, offset = message_indexes(data, 5)
                return (entry, path, "id"), data[offset:], None
            except IndexError:
                return None, b"", f"protobuf schema id {schema_id}: truncated message indexes"
        return (entry, (), "id"), data[5:], None
    if kind == "avro" and data[:2] == b"\xc3\x01" and len(data) >= 10:
        entry = schemas.by_fingerprint(data[2:10])
        if entry is None:
            return None, b"", f"avro: unknown schema fingerprint {data[2:10].hex()}"
        return (entry, (), "fingerprint"), data[10:], None
    entry = schemas.by_type(event_type) if event_type else None
    if kind == "confluent":
        return None, b"", "confluent: unknown schema id"
    if entry is None or entry.format != kind:
        return None, b"", (f"{kind}: no {kind} schema registered for type "
                           f"{event_type!r} (register one, or send a Confluent schema id)")
    return (entry, (), "type"), data, None


def message_indexes(data: bytes, at: int) -> tuple[tuple[int, ...], int]:
    """Confluent's message indexes (zigzag varints: a count, then the path), and the offset after.

    >>> message_indexes(b"\\x00", 0), message_indexes(b"\\x04\\x02\\x00", 0)
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


def nested_message(message: Any, path: tuple[int, ...]) -> Any:
    """The message a Confluent index path names (from the file of ``message``)."""
    from google.protobuf import message_factory

    descriptor = message.DESCRIPTOR.file.message_types_by_name
    d = list(descriptor.values())[path[0]]
    for k in path[1:]:
        d = d.nested_types[k]
    return message_factory.GetMessageClass(d)
