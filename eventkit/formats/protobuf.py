"""Protobuf payloads to polars, in bulk, driven by the message's descriptor.

A batch's messages are read together from their wire format
(:mod:`eventkit.formats._protowire`, numpy over all the bytes at once); the
few it leaves (malformed, or encoded as writers rarely do) are parsed by the
protobuf runtime (upb, in C), whose columns are then built field by field
over those messages. Either way nested messages become structs, repeated
fields lists, maps lists of ``key``/``value`` structs, enums ``Enum`` of
their value names, and the well-known types their Arrow types:
``Timestamp`` a UTC datetime (ns), ``Duration`` a duration (ns), the
wrappers (``DoubleValue``, ...) their nullable value. Fields with presence
(messages, ``optional``, oneof members) are null where unset; proto3 scalars
without presence read their default.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

import polars as pl
import pyarrow as pa

from eventkit._deps import missing
from eventkit.formats._protobuf_types import MAX_SECONDS
from eventkit.formats._protobuf_types import SCALARS as _SCALARS
from eventkit.formats._protobuf_types import WRAPPERS as _WRAPPERS
from eventkit.formats._protobuf_types import enum_names as _enum_names

__all__ = ["read_messages"]

_MESSAGE, _ENUM = 11, 14


def _protobuf() -> Any:
    try:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    except ImportError as exc:
        raise missing("protobuf", "reading Protobuf payloads") from exc
    return descriptor_pb2, descriptor_pool, message_factory


def read_messages(bodies: Sequence[bytes], message: Any, *, what: str = "protobuf",
                  skip: Sequence[int] | None = None) -> tuple[pl.DataFrame, dict[int, str]]:
    """Serialized messages of one type as one frame, and why the bad ones did not parse.

    ``skip`` gives, per body, the bytes before the message (a framing already read).

    Examples
    --------
    >>> from google.protobuf import timestamp_pb2
    >>> ts = timestamp_pb2.Timestamp(seconds=1793534400, nanos=5)
    >>> frame, bad = read_messages([ts.SerializeToString(), b"\\xff"], timestamp_pb2.Timestamp)
    >>> frame
    shape: (1, 2)
    ┌────────────┬───────┐
    │ seconds    ┆ nanos │
    │ ---        ┆ ---   │
    │ i64        ┆ i32   │
    ╞════════════╪═══════╡
    │ 1793534400 ┆ 5     │
    └────────────┴───────┘
    >>> bad
    {1: 'protobuf google.protobuf.Timestamp: Error parsing message'}
    """
    _protobuf()
    descriptor = message.DESCRIPTOR
    try:
        import numpy as np

        from eventkit.formats import _protowire
    except ImportError:  # no numpy: message by message
        fast = None
    else:
        fast = _protowire.read(bodies, descriptor, skip)
    if fast is None:
        table, bad = _parsed(_cut(bodies, skip), message, what)
    else:
        columns, slow = fast
        table = _table(columns, descriptor, len(bodies))
        bad = {}
        if slow.any():  # what the bulk read left: protobuf's parser, message by message
            rows = np.flatnonzero(slow).tolist()
            other, why = _parsed(_cut([bodies[i] for i in rows],
                                      None if skip is None else [skip[i] for i in rows]),
                                 message, what)
            bad = {rows[k]: reason for k, reason in why.items()}
            read = [i for k, i in enumerate(rows) if k not in why]
            order = np.argsort(np.concatenate([np.flatnonzero(~slow), np.array(read, np.int64)]))
            table = pa.concat_tables([table.filter(pa.array(~slow)), other]).take(order)
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    if "__empty__" in frame.columns:
        frame = frame.drop("__empty__")
    return frame.cast(_enums(descriptor)), bad  # type: ignore[arg-type]


def _cut(bodies: Sequence[bytes], skip: Sequence[int] | None) -> Sequence[bytes]:
    return bodies if skip is None else [b[k:] for b, k in zip(bodies, skip, strict=True)]


def _parsed(bodies: Sequence[bytes], message: Any, what: str) -> tuple[pa.Table, dict[int, str]]:
    """Messages parsed by protobuf (upb) and their fields read from Python: the way for
    what :mod:`eventkit.formats._protowire` does not read."""
    from google.protobuf.message import DecodeError

    parse = message.FromString
    bad: dict[int, str] = {}
    try:
        msgs = _parse_all(bodies, message)
    except (DecodeError, ValueError):
        msgs = []
        for i, b in enumerate(bodies):
            try:
                msgs.append(parse(b))
            except DecodeError as exc:
                bad[i] = f"{what} {message.DESCRIPTOR.full_name}: {_reason(exc)}"
    descriptor = message.DESCRIPTOR

    def table(msgs: list[Any]) -> pa.Table:
        return _table(list(_columns(msgs, descriptor.fields).values()), descriptor, len(msgs))

    try:
        return table(msgs), bad
    except _OutOfRange:  # a time no column holds: those messages flagged, the rest kept
        kept = [i for i in range(len(bodies)) if i not in bad]
        fine = []
        for i, msg in zip(kept, msgs, strict=True):
            try:
                table([msg])
            except _OutOfRange as exc:
                bad[i] = f"{what} {descriptor.full_name}: {exc}"
            else:
                fine.append(msg)
        return table(fine), bad


class _OutOfRange(ValueError):
    """A Timestamp or Duration beyond what int64 nanoseconds hold (years 1678-2261)."""


def _nanoseconds(msgs: list[Any], name: str) -> list[int]:
    out = [m.seconds * 1_000_000_000 + m.nanos for m in msgs]
    for m in msgs:
        if abs(m.seconds) > MAX_SECONDS:
            raise _OutOfRange(f"{name} of {m.seconds} seconds is out of the range of a time "
                              "in nanoseconds (years 1678-2261)")
    return out


def _table(columns: list[pa.Array], descriptor: Any, n: int) -> pa.Table:
    if not columns:
        return pa.table({"__empty__": pa.nulls(n)})
    return pa.Table.from_arrays(columns, names=[f.name for f in descriptor.fields])


_PREFIX: list[bytes] = []


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _parse_all(bodies: Sequence[bytes], message: Any) -> list[Any]:
    """All messages parsed by one call: as the ``items`` of a batch message whose field 1 is
    ``repeated <message>`` (each body framed as that field: tag, length, bytes)."""
    if not _PREFIX:
        _PREFIX.extend(b"\x0a" + _varint(size) for size in range(1 << 14))
    if any(len(b) >= 1 << 14 for b in bodies):
        return [message.FromString(b) for b in bodies]
    framed = b"".join([part for b in bodies for part in (_PREFIX[len(b)], b)])
    return list(_batch_class(message).FromString(framed).items)


@functools.cache
def _batch_class(message: Any) -> Any:
    """``message Batch { repeated <message> items = 1; }``, in a pool of its own (the files
    of ``message`` copied into it: the pool ``message`` came from is left as it is)."""
    descriptor_pb2, descriptor_pool, message_factory = _protobuf()
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(file: Any) -> None:
        if file.name in added:
            return
        for dependency in file.dependencies:
            add(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        pool.Add(proto)
        added.add(file.name)

    add(message.DESCRIPTOR.file)
    batch = descriptor_pb2.FileDescriptorProto(
        name="eventkit_batch.proto", package="eventkit_batch", syntax="proto3",
        dependency=[message.DESCRIPTOR.file.name])
    batch.message_type.add(name="Batch").field.add(
        name="items", number=1, type=11, label=3, type_name=f".{message.DESCRIPTOR.full_name}")
    pool.Add(batch)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("eventkit_batch.Batch"))


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text.split(" with type ")[0] if text else type(exc).__name__


def _columns(msgs: list[Any], fields: Sequence[Any]) -> dict[str, pa.Array]:
    """Every field's column. Plain scalars (no presence, not repeated) are read together,
    one C call per message (``attrgetter`` of all their names), then split in C."""
    plain = [f for f in fields if not f.is_repeated and not f.has_presence
             and f.type != _MESSAGE]
    read: dict[str, pa.Array] = {}
    if len(plain) > 1 and msgs:
        rows = list(map(attrgetter(*(f.name for f in plain)), msgs))
        for f, values in zip(plain, zip(*rows, strict=True), strict=True):
            read[f.name] = _values(list(values), f, None)
    return {f.name: read[f.name] if f.name in read else _column(msgs, f) for f in fields}


def _column(msgs: list[Any], field: Any) -> pa.Array:
    values = list(map(attrgetter(field.name), msgs))
    if field.is_repeated:
        return _repeated(values, field)
    mask = None
    if field.has_presence:
        has = [m.HasField(field.name) for m in msgs]
        if not all(has):
            mask = pa.array([not h for h in has])
    return _values(values, field, mask)


def _repeated(containers: list[Any], field: Any) -> pa.Array:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        entry = field.message_type.fields_by_name
        key_f, value_f = entry["key"], entry["value"]
        pairs = [list(c.items()) for c in containers]
        offsets = pa.array(_offsets(pairs), pa.int32())
        flat = [p for ps in pairs for p in ps]
        entries = pa.StructArray.from_arrays(
            [_values([k for k, _ in flat], key_f, None),
             _values([v for _, v in flat], value_f, None)],
            names=["key", "value"])
        return pa.ListArray.from_arrays(offsets, entries)
    offsets = pa.array(_offsets(containers), pa.int32())
    flat = [v for c in containers for v in c]
    return pa.ListArray.from_arrays(offsets, _values(flat, field, None))


def _offsets(lists: list[Any]) -> list[int]:
    out, total = [0], 0
    for size in map(len, lists):
        total += size
        out.append(total)
    return out


def _values(values: list[Any], field: Any, mask: pa.Array | None) -> pa.Array:
    """One column of ``values`` of ``field``'s (element) type; null where ``mask``."""
    if field.type == _MESSAGE:
        return _message_values(values, field.message_type, mask)
    if field.type == _ENUM:  # value names (a number no name has is null)
        names = _enum_names(field.enum_type)
        index = {v.number: names.index(v.name) for v in field.enum_type.values}
        indices = pa.array([index.get(v) for v in values], pa.int32(), mask=mask)
        return pa.DictionaryArray.from_arrays(indices, pa.array(names, pa.string()))
    return pa.array(values, _SCALARS[field.type], mask=mask)


def _message_values(msgs: list[Any], descriptor: Any, mask: pa.Array | None) -> pa.Array:
    name = descriptor.full_name
    if name == "google.protobuf.Timestamp":
        return pa.array(_nanoseconds(msgs, name), pa.int64(),
                        mask=mask).cast(pa.timestamp("ns", "UTC"))
    if name == "google.protobuf.Duration":
        return pa.array(_nanoseconds(msgs, name), pa.int64(), mask=mask).cast(pa.duration("ns"))
    if name in _WRAPPERS:
        return _values([m.value for m in msgs], descriptor.fields_by_name["value"], mask)
    columns = _columns(msgs, descriptor.fields)
    children = list(columns.values())
    if not children:
        return pa.array([{} if False else None] * len(msgs), pa.struct([]))
    return pa.StructArray.from_arrays(children, names=[f.name for f in descriptor.fields],
                                      mask=mask)


def polars_type(descriptor: Any) -> pl.DataType:
    """The polars type of a message's struct (enums as ``Enum`` of their value names)."""
    return pl.Struct({f.name: _field_type(f) for f in descriptor.fields})


def _field_type(field: Any) -> pl.DataType:
    if field.is_repeated:
        element: pl.DataType
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            entry = field.message_type.fields_by_name
            element = pl.Struct({"key": _one_type(entry["key"]),
                                 "value": _one_type(entry["value"])})
        else:
            element = _one_type(field)
        return pl.List(element)
    return _one_type(field)


def _one_type(field: Any) -> pl.DataType:
    if field.type == _ENUM:
        return pl.Enum(_enum_names(field.enum_type))
    if field.type == _MESSAGE:
        name = field.message_type.full_name
        if name == "google.protobuf.Timestamp":
            return pl.Datetime("ns", "UTC")
        if name == "google.protobuf.Duration":
            return pl.Duration("ns")
        if name in _WRAPPERS:
            return _one_type(field.message_type.fields_by_name["value"])
        return polars_type(field.message_type)
    out = pl.from_arrow(pa.array([], _SCALARS[field.type]))
    assert isinstance(out, pl.Series)
    return out.dtype


def _enums(descriptor: Any) -> dict[str, pl.DataType]:
    """The cast that makes enum columns ``Enum`` of their names (fields without enums left out)."""
    out = {}
    for f in descriptor.fields:
        if _has_enum(f, set()):
            out[f.name] = _field_type(f)
    return out


def _has_enum(field: Any, seen: set[str]) -> bool:
    if field.type == _ENUM:
        return True
    if field.type != _MESSAGE or field.message_type.full_name in seen:
        return False
    seen = seen | {field.message_type.full_name}
    return any(_has_enum(f, seen) for f in field.message_type.fields)
