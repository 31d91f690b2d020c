"""The sample history in other payload formats: Avro, Protobuf, MessagePack, CloudEvents.

Each event type gets a schema derived from the sample itself (a field every
event of the type has is required, any other optional; ``event_time`` is a
timestamp), written with the formats' own libraries: fastavro (Confluent wire
format: magic byte, schema id), protobuf (Confluent wire format with message
indexes; the descriptors built in code, no ``protoc`` needed), msgpack, and
CloudEvents in structured mode (a JSON envelope with ``data``). The few
malformed messages of the sample stay as they are.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl

if TYPE_CHECKING:
    from eventkit.formats.schemas import Schemas

__all__ = ["CONTENT_TYPES", "SampleSchema", "encode", "protobuf_class", "sample_schemas"]

FIRST_ID = 100  # the sample's schema ids: 100, 101, ... in type order
CONTENT_TYPES = {"avro": "application/avro", "protobuf": "application/x-protobuf",
                 "msgpack": "application/msgpack", "cloudevents": "application/cloudevents+json",
                 "json": None}


@dataclass(frozen=True, slots=True)
class SampleSchema:
    """One type's schema in one format, as a registry holds it."""

    event_type: str
    format: str
    text: str                 # the Avro schema (JSON), or the protobuf message reference
    schema_id: int
    descriptors: bytes | None = None  # protobuf: the FileDescriptorSet
    message: str | None = None        # protobuf: the message's full name


def _events(frame: pl.DataFrame) -> list[dict[str, Any] | None]:
    out: list[dict[str, Any] | None] = []
    for raw in frame.get_column("data").to_list():
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = None
        out.append(value if isinstance(value, dict) and isinstance(value.get("type"), str)
                   else None)
    return out


def _fields(events: Sequence[dict[str, Any] | None]) -> dict[str, dict[str, tuple[str, bool]]]:
    """Per type: field -> (kind, required), kinds ``string``, ``double``, ``long``, ``time``."""
    kinds: dict[str, dict[str, set[str]]] = {}
    counts: dict[str, int] = {}
    present: dict[str, dict[str, int]] = {}
    for e in events:
        if e is None:
            continue
        t = e["type"]
        counts[t] = counts.get(t, 0) + 1
        for k, v in e.items():
            kind = ("time" if k == "event_time" else "long" if isinstance(v, int)
                    and not isinstance(v, bool) else "double" if isinstance(v, float)
                    else "string")
            kinds.setdefault(t, {}).setdefault(k, set()).add(kind)
            seen = present.setdefault(t, {})
            seen[k] = seen.get(k, 0) + 1
    out: dict[str, dict[str, tuple[str, bool]]] = {}
    for t in sorted(kinds):
        out[t] = {}
        for k, ks in kinds[t].items():
            kind = "double" if ks == {"long", "double"} else ks.pop() if len(ks) == 1 else "string"
            out[t][k] = (kind, present[t][k] == counts[t])
    return out


_AVRO = {"string": "string", "double": "double", "long": "long",
         "time": {"type": "long", "logicalType": "timestamp-millis"}}


def _avro_schema(event_type: str, fields: dict[str, tuple[str, bool]]) -> dict[str, Any]:
    name = "".join(p.title() for p in event_type.split("_"))
    return {"type": "record", "name": name, "namespace": "rides", "fields": [
        {"name": k, "type": _AVRO[kind]} if required else
        {"name": k, "type": ["null", _AVRO[kind]], "default": None}
        for k, (kind, required) in fields.items()]}


def _descriptors(fields: dict[str, dict[str, tuple[str, bool]]]) -> bytes:
    """A FileDescriptorSet: one message per type (optional fields as wrapper types)."""
    from google.protobuf import descriptor_pb2, timestamp_pb2, wrappers_pb2

    files = descriptor_pb2.FileDescriptorSet()
    for module in (timestamp_pb2, wrappers_pb2):
        module.DESCRIPTOR.CopyToProto(files.file.add())
    rides = files.file.add(name="rides.proto", package="rides", syntax="proto3",
                           dependency=["google/protobuf/timestamp.proto",
                                       "google/protobuf/wrappers.proto"])
    scalar = {"string": 9, "double": 1, "long": 3}
    wrapper = {"string": ".google.protobuf.StringValue", "double": ".google.protobuf.DoubleValue",
               "long": ".google.protobuf.Int64Value"}
    for t, fs in fields.items():
        message = rides.message_type.add(name="".join(p.title() for p in t.split("_")))
        for number, (k, (kind, required)) in enumerate(fs.items(), start=1):
            f = message.field.add(name=k, number=number, label=1)
            if kind == "time":
                f.type, f.type_name = 11, ".google.protobuf.Timestamp"
            elif required:
                f.type = scalar[kind]
            else:
                f.type, f.type_name = 11, wrapper[kind]
    serialized: bytes = files.SerializeToString()
    return serialized


def sample_schemas(frame: pl.DataFrame | None = None) -> dict[str, list[SampleSchema]]:
    """The sample's schemas per format (``avro``, ``protobuf``), ids from 100 on."""
    from eventkit.sample.rides import load

    fields = _fields(_events(load() if frame is None else frame))
    avro = [SampleSchema(t, "avro", orjson.dumps(_avro_schema(t, fs)).decode(), FIRST_ID + i)
            for i, (t, fs) in enumerate(fields.items())]
    desc = _descriptors(fields)
    proto = [SampleSchema(t, "protobuf", f"rides.{_name(t)}", FIRST_ID + len(fields) + i,
                          desc, f"rides.{_name(t)}") for i, t in enumerate(fields)]
    return {"avro": avro, "protobuf": proto}


def protobuf_class(schema: SampleSchema) -> Any:
    """The message class of a sample Protobuf schema (built as the registry builds it)."""
    from eventkit.schema._entry import SchemaEntry, protobuf_message

    return protobuf_message(SchemaEntry(schema.event_type, 1, "protobuf", schema.text,
                                        schema.schema_id, schema.descriptors, schema.message))


def writer_schemas(schemas: Mapping[str, list[SampleSchema]], format: str) -> Schemas:
    """The writer schemas a decode of the sample in ``format`` needs (none for JSON and the rest),
    as a read gets them from the registry."""
    import fastavro

    from eventkit.formats.schemas import Schemas, WriterSchema

    if format == "avro":
        return Schemas([WriterSchema(s.event_type, 1, "avro",
                                     fastavro.parse_schema(orjson.loads(s.text)), s.schema_id)
                        for s in schemas["avro"]])
    if format == "protobuf":
        return Schemas([WriterSchema(s.event_type, 1, "protobuf", protobuf_class(s), s.schema_id)
                        for s in schemas["protobuf"]])
    return Schemas()


def _name(event_type: str) -> str:
    return "".join(p.title() for p in event_type.split("_"))


def _millis(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def encode(frame: pl.DataFrame, format: str, ids: Mapping[str, int] | None = None,
           ) -> tuple[list[bytes], list[dict[str, str] | None], dict[str, list[SampleSchema]]]:
    """The sample's payloads and headers in ``format``, and the schemas they were written with.

    ``ids`` gives each type's schema id (as a registry gave it) for the Confluent
    framing; by default the sample's own (100, 101, ...).

    Examples
    --------
    >>> from eventkit.sample import generate
    >>> payloads, headers, schemas = encode(generate(seed=1, n_events=50), "avro")
    >>> payloads[0][:1], headers[0], len(schemas["avro"]) > 3
    (b'\\x00', {'content-type': 'application/avro'}, True)
    """
    if format not in CONTENT_TYPES:
        from eventkit.exceptions import ConfigurationError

        raise ConfigurationError(f"format must be one of {', '.join(CONTENT_TYPES)}, "
                                 f"got {format!r}")
    events = _events(frame)
    raw = frame.get_column("data").to_list()
    given = [None if h is None else orjson.loads(h) for h in frame.get_column("headers")]
    schemas = sample_schemas(frame)
    if ids:
        schemas = {f: [SampleSchema(s.event_type, s.format, s.text,
                                    ids.get(s.event_type, s.schema_id), s.descriptors, s.message)
                       for s in group] for f, group in schemas.items()}
    write = _writer(format, schemas)
    payloads, headers = [], []
    for event, original, h in zip(events, raw, given, strict=True):
        if event is None or write is None:
            payloads.append(original)
            headers.append(h)
            continue
        payloads.append(write(event))
        kind = CONTENT_TYPES[format]
        headers.append({**(h or {}), "content-type": kind} if kind else h)
    return payloads, headers, schemas


def _writer(format: str, schemas: dict[str, list[SampleSchema]]) -> Any:
    if format == "avro":
        import fastavro

        parsed = {s.event_type: (s.schema_id, fastavro.parse_schema(orjson.loads(s.text)))
                  for s in schemas["avro"]}

        def avro(event: dict[str, Any]) -> bytes:
            schema_id, schema = parsed[event["type"]]
            out = io.BytesIO()
            out.write(b"\x00" + schema_id.to_bytes(4, "big"))
            fastavro.schemaless_writer(out, schema, {**event, "event_time": _millis(
                event["event_time"])})
            return out.getvalue()
        return avro
    if format == "protobuf":
        classes = {s.event_type: (s.schema_id, protobuf_class(s)) for s in schemas["protobuf"]}

        def proto(event: dict[str, Any]) -> bytes:
            schema_id, cls = classes[event["type"]]
            m = cls()
            for k, v in event.items():
                if k == "event_time":
                    m.event_time.FromMilliseconds(_millis(v))
                elif m.DESCRIPTOR.fields_by_name[k].message_type is not None:
                    getattr(m, k).value = v
                else:
                    setattr(m, k, v)
            index = list(m.DESCRIPTOR.file.message_types_by_name).index(m.DESCRIPTOR.name)
            indexes = b"\x00" if index == 0 else bytes([2, 2 * index])  # zigzag varints
            body: bytes = m.SerializeToString()
            return b"\x00" + schema_id.to_bytes(4, "big") + indexes + body
        return proto
    if format == "msgpack":
        import msgpack
        return msgpack.packb
    if format == "cloudevents":
        def cloudevent(event: dict[str, Any]) -> bytes:
            return orjson.dumps({"specversion": "1.0", "type": event["type"],
                                 "source": "/eventkit/sample", "id": f"{event['ride_id']}/"
                                 f"{event['type']}/{event['event_time']}",
                                 "subject": event["ride_id"], "time": event["event_time"],
                                 "datacontenttype": "application/json", "data": event})
        return cloudevent
    return None
