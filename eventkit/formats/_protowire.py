"""Protobuf's wire format read for a whole batch of messages at once, with numpy.

Every message of a batch is walked together: one step reads the next field
(tag, then varint, fixed-width value or length) of every message still open,
so a batch takes as many steps as a message has fields, not as many as the
batch has messages. Each field's records then become its Arrow column in a
few array operations: numbers from their varints or fixed bytes, strings and
bytes sliced out of the batch's buffer by one ``take``, nested messages read
the same way over their byte ranges (the well-known ``Timestamp``,
``Duration`` and wrappers as their Arrow types), repeated fields, packed or
not, as lists.

What it does not read is left to protobuf's own parser, message by message:
a message with a group, a map entry, a field written twice, two members of
one oneof, an enum number its enum does not name, a wire type other than
its field's, text that is not UTF-8, or anything malformed is marked
``slow``; :func:`read` says which. Message types that hold groups or
themselves (recursion) are not read here at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from eventkit.formats._protobuf_types import MAX_SECONDS, SCALARS, WRAPPERS, enum_names

__all__ = ["covered", "read"]

_TIMES = {"google.protobuf.Timestamp": pa.timestamp("ns", "UTC"),
          "google.protobuf.Duration": pa.duration("ns")}
_GROUP, _MESSAGE, _ENUM, _STRING, _BYTES = 10, 11, 14, 9, 12
_FIXED = {1: "<f8", 6: "<u8", 16: "<i8", 2: "<f4", 7: "<u4", 15: "<i4"}  # type -> bytes
_WIRE = {t: 1 if d[1:] in ("f8", "u8", "i8") else 5 for t, d in _FIXED.items()} | {
    3: 0, 4: 0, 5: 0, 8: 0, 13: 0, 14: 0, 17: 0, 18: 0, 9: 2, 12: 2, 11: 2}
_PAD = 32                     # zero bytes after the batch: a varint read never runs off it
_MAX_STEPS = 4096             # fields of one message read here (more: protobuf's parser)
_TEN = np.arange(10, dtype=np.int64)
_SHIFTS = (7 * _TEN).astype(np.uint64)
_ONE, _ZERO = np.uint64(1), np.uint64(0)
_HIGH_BITS, _LOW_BITS = np.uint64(0x8080808080808080), np.uint64(0x7F7F7F7F7F7F7F7F)
_M1, _M2, _M3 = np.uint64(0x007F007F007F007F), np.uint64(0x00003FFF00003FFF), np.uint64(0x0FFFFFFF)


class _Batch(NamedTuple):
    buf: np.ndarray   # the messages' bytes, then _PAD zeros
    words: np.ndarray  # the 8 bytes from each position, as a little-endian uint64
    data: pa.Buffer   # the same bytes, as the data buffer of Arrow binary arrays


class _Records(NamedTuple):
    """One record per field met: its message (row), wire type, where its value starts, and
    its varint (the value for wire type 0, the length for 2)."""

    row: np.ndarray
    wire: np.ndarray
    at: np.ndarray
    value: np.ndarray

    def take(self, index: np.ndarray) -> _Records:
        return _Records(self.row[index], self.wire[index], self.at[index], self.value[index])


def covered(descriptor: Any, inside: frozenset[str] = frozenset()) -> bool:
    """Whether messages of ``descriptor`` are read here (no groups, no recursion)."""
    inside = inside | {descriptor.full_name}
    for f in descriptor.fields:
        if f.type == _GROUP:
            return False
        if f.type == _MESSAGE and (f.message_type.full_name in inside
                                   or not covered(f.message_type, inside)):
            return False
    return True


def read(bodies: Sequence[bytes], descriptor: Any, skip: Sequence[int] | None = None
         ) -> tuple[list[pa.Array], np.ndarray] | None:
    """Each field's column over ``bodies`` (one row per body, its first ``skip`` bytes left
    out), and the rows protobuf's parser must read instead (a boolean mask); None when the
    message type is not read here."""
    if not covered(descriptor):
        return None
    data = b"".join([*bodies, bytes(_PAD)])
    if len(data) > 2**31 - 1:
        return None
    sizes = np.fromiter(map(len, bodies), np.int64, len(bodies))
    end = np.cumsum(sizes)
    start = end - sizes
    if skip is not None:
        start += np.minimum(np.asarray(skip, dtype=np.int64), sizes)
    words = np.ndarray((len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
    batch = _Batch(np.frombuffer(data, np.uint8), words, pa.py_buffer(data))
    return _message(batch, start, end, descriptor)


def _varint(batch: _Batch, pos: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The varints at ``pos``: values, the positions after them, and which are well formed
    (None: all are). Those of up to 8 bytes from the 8 bytes read at once (their 7-bit
    groups joined by three shifts), longer ones byte by byte."""
    first = batch.buf[pos]
    more = first >= 0x80
    if not more.any():
        return first.astype(np.uint64), pos + 1, None
    if more.all():
        value, size, longer = _words(batch.words[pos])
        after = pos + size
        going = np.arange(len(pos))
    else:
        value, after = first.astype(np.uint64), pos + 1
        going = np.flatnonzero(more)
        value[going], size, longer = _words(batch.words[pos[going]])
        after[going] += size - 1
    if not longer.any():
        return value, after, None
    return _long_varints(batch.buf, going[longer], pos, value, after)


def _words(word: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The varints that start the little-endian ``word`` s: values, sizes, and which go on
    past 8 bytes (their value and size are for :func:`_long_varints` to find)."""
    stop = ~word & _HIGH_BITS        # the bytes without a continuation bit
    last = stop & (_ZERO - stop)     # the first of them: 2**(8 * size - 1)
    x = word & ((last << _ONE) - _ONE) & _LOW_BITS
    x = (x & _M1) | ((x >> _ONE) & _M1 << np.uint64(7))
    x = (x & _M2) | ((x >> np.uint64(2)) & _M2 << np.uint64(14))
    x = (x & _M3) | ((x >> np.uint64(4)) & _M3 << np.uint64(28))
    size = ((last.astype(np.float64).view(np.int64) >> 52) - 1022) >> 3
    return x, size, stop == 0


def _long_varints(buf: np.ndarray, going: np.ndarray, pos: np.ndarray, value: np.ndarray,
                  after: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The varints of 9 or 10 bytes (negative numbers) among ``value``, byte by byte."""
    at = pos[going]
    part = np.zeros(len(at), dtype=np.uint64)
    for k in range(9):
        part |= (buf[at + k] & 0x7F).astype(np.uint64) << np.uint64(7 * k)
    nine = buf[at + 8] < 0x80
    tenth = buf[at + 9]
    part |= np.where(nine, 0, tenth & 1).astype(np.uint64) << np.uint64(63)
    value[going], after[going] = part, at + np.where(nine, 9, 10)
    ok = np.ones(len(pos), dtype=bool)
    ok[going] = nine | (tenth < 0x80)  # longer than ten bytes: malformed
    return value, after, ok


def _empty() -> _Records:
    nothing = np.zeros(0, dtype=np.int64)
    return _Records(nothing, nothing.astype(np.int8), nothing, nothing.astype(np.uint64))


def _layout(descriptor: Any) -> list[tuple[int, int, bytes, bool]]:
    """The fields in the order writers put them (by number): number, wire type, tag bytes,
    repeated. Repeated numbers are expected packed (proto3's default)."""
    out = []
    for f in sorted(descriptor.fields, key=lambda f: f.number):
        wire = 2 if f.is_repeated else _WIRE[f.type]
        tag, encoded = f.number << 3 | wire, bytearray()
        while tag > 0x7F:
            encoded.append(tag & 0x7F | 0x80)
            tag >>= 7
        encoded.append(tag)
        out.append((f.number, wire, bytes(encoded), f.is_repeated))
    return out


def _scan(batch: _Batch, start: np.ndarray, end: np.ndarray, descriptor: Any
          ) -> tuple[dict[int, _Records], set[int], np.ndarray]:
    """Every field record of the messages at ``start:end`` by field number, the fields whose
    records are in row order (once per message at most), and the rows found malformed or out
    of reach (groups, too many fields).

    The fields are first looked for where writers put them (in number order): each field
    is one step over all messages, whichever have it. What is left of a message then (a
    field out of order, unknown, repeated unpacked) is walked tag by tag (:func:`_walk`)."""
    buf = batch.buf
    slow = np.zeros(len(start), dtype=bool)
    rows = np.flatnonzero(start < end)
    pos, limit = start[rows], end[rows]
    found: dict[int, list[_Records]] = {}
    walked: set[int] = set()  # fields met by _walk (in no particular row order)
    for number, wire, tag, repeated in _layout(descriptor):
        while rows.size:
            hit = buf[pos] == tag[0]
            for k in range(1, len(tag)):
                hit &= buf[pos + k] == tag[k]
            if not hit.any():
                break
            if hit.all():
                who, at = rows, pos + len(tag)
            else:
                index = np.flatnonzero(hit)
                who, at = rows[index], pos[index] + len(tag)
            value = np.zeros(len(at), dtype=np.uint64)
            ok = None
            if wire == 0:
                value, after, ok = _varint(batch, at)
            elif wire == 2:
                value, at, ok = _varint(batch, at)
                after = at + np.minimum(value, np.uint64(1 << 40)).astype(np.int64)
            else:
                after = at + (8 if wire == 1 else 4)
            bad = after > (limit if who is rows else limit[index])
            if ok is not None:
                bad |= ~ok
            if who is rows:
                pos = after
            else:
                pos[index] = after
            if bad.any():  # malformed: left to protobuf's parser, no longer walked
                slow[who[bad]] = True
                gone = np.flatnonzero(bad) if who is rows else index[bad]
                pos[gone] = limit[gone]
                good = ~bad
                who, at, value = who[good], at[good], value[good]
            found.setdefault(number, []).append(
                _Records(who, np.full(len(who), wire, dtype=np.int8), at, value))
            going = pos < limit
            if not going.all():
                rows, pos, limit = rows[going], pos[going], limit[going]
            if not repeated:
                break
    if rows.size:
        rest, field, more_slow = _walk(batch, pos, limit)
        rest = rest._replace(row=rows[rest.row])
        slow[rows[more_slow]] = True
        numbers, first = np.unique(field, return_index=True)
        walked.update(numbers.tolist())
        for k, number in enumerate(numbers.tolist()):
            stop = first[k + 1] if k + 1 < len(first) else len(field)
            found.setdefault(number, []).append(_Records(*(c[first[k]:stop] for c in rest)))
    joined = {n: parts[0] if len(parts) == 1 else
              _Records(*map(np.concatenate, zip(*parts, strict=True)))
              for n, parts in found.items()}
    return joined, {n for n, parts in found.items() if len(parts) == 1} - walked, slow


def _walk(batch: _Batch, start: np.ndarray, end: np.ndarray
          ) -> tuple[_Records, np.ndarray, np.ndarray]:
    """Every field record of the messages at ``start:end`` (rows ``0..``), read tag by tag,
    ordered by field number (each field's in wire order); their numbers; the bad rows."""
    slow = np.zeros(len(start), dtype=bool)
    rows = np.flatnonzero(start < end)
    pos, limit = start[rows], end[rows]
    found: list[tuple[np.ndarray, ...]] = []
    steps = 0
    while rows.size:
        steps += 1
        if steps > _MAX_STEPS:
            slow[rows] = True
            break
        tag, pos, tag_ok = _varint(batch, pos)
        wire = (tag & np.uint64(7)).astype(np.int8)
        field = (tag >> np.uint64(3)).astype(np.int64)
        value, after, value_ok = _varint(batch, pos)
        size = np.minimum(value, np.uint64(1 << 40)).astype(np.int64)
        step = np.where(wire == 2, after + size, np.where(
            wire == 0, after, np.where(wire == 1, pos + 8, pos + 4)))
        bad = (step > limit) | (field == 0) | (field >= 1 << 29) | (
            (wire != 0) & (wire != 1) & (wire != 2) & (wire != 5))
        if tag_ok is not None:
            bad |= ~tag_ok
        if value_ok is not None:
            bad |= ~value_ok & ((wire == 0) | (wire == 2))
        if bad.any():
            slow[rows[bad]] = True
            keep = ~bad
            rows, field, wire, pos, after, value, step, limit = (
                a[keep] for a in (rows, field, wire, pos, after, value, step, limit))
        found.append((rows, field, wire, np.where(wire == 2, after, pos), value))
        more = step < limit
        rows, pos, limit = rows[more], step[more], limit[more]
    if not found:
        return _empty(), np.zeros(0, dtype=np.int64), slow
    row, field, wire, at, value = (np.concatenate(parts) for parts in zip(*found, strict=True))
    order = np.argsort(field, kind="stable")  # by field; each field's records in wire order
    return _Records(row[order], wire[order], at[order], value[order]), field[order], slow


def _message(batch: _Batch, start: np.ndarray, end: np.ndarray, descriptor: Any
             ) -> tuple[list[pa.Array], np.ndarray]:
    """The columns of the messages at ``start:end`` (one per field), and the slow rows."""
    found, ordered, slow = _scan(batch, start, end, descriptor)
    columns = []
    for f in descriptor.fields:
        mine = found.get(f.number, _empty())
        if f.is_repeated:
            columns.append(_repeated(batch, f, mine, start, slow))
        else:
            columns.append(_singular(batch, f, mine, start, slow, f.number in ordered))
    for oneof in descriptor.oneofs:  # two members set: the last wins (protobuf's parser)
        members = [found[f.number].row for f in oneof.fields if f.number in found]
        if len(members) > 1:
            counts = np.bincount(np.concatenate(members), minlength=len(start))
            slow[counts > 1] = True
    return columns, slow


def _checked(field: Any, mine: _Records, slow: np.ndarray, *, packed: bool = False
             ) -> _Records:
    """The records of the field's wire type (the others' rows are slow)."""
    wire = _WIRE[field.type]
    ok = mine.wire == wire
    if packed and wire != 2:
        ok |= mine.wire == 2
    if not ok.all():
        slow[mine.row[~ok]] = True
        mine = mine.take(np.flatnonzero(ok))
    return mine


def _singular(batch: _Batch, field: Any, mine: _Records, start: np.ndarray,
              slow: np.ndarray, ordered: bool) -> pa.Array:
    m = len(start)
    mine = _checked(field, mine, slow)
    if not ordered and mine.row.size and not (mine.row[1:] > mine.row[:-1]).all():
        twice = np.bincount(mine.row, minlength=m) > 1
        slow[twice] = True  # written twice: merged or the last kept (protobuf's parser)
        order = np.argsort(mine.row, kind="stable")
        mine = mine.take(order)
        keep = np.ones(len(order), dtype=bool)
        keep[:-1] = mine.row[1:] != mine.row[:-1]
        mine = mine.take(np.flatnonzero(keep))
    if len(mine.row) == m:  # in every message (its rows are 0, 1, ... m - 1)
        if field.type == _MESSAGE:
            return _messages(batch, field.message_type, mine, slow)
        if field.type in (_STRING, _BYTES):
            return _texts(batch, field, mine.at, mine.value.astype(np.int64), mine.row, slow,
                          None)
        return _scalars(field, _numbers(batch, field, mine.value, mine.at), mine.row, slow,
                        None)
    absent = None
    if field.has_presence:
        absent = np.ones(m, dtype=bool)
        absent[mine.row] = False
    if field.type == _MESSAGE:
        values = _messages(batch, field.message_type, mine, slow)
        index = np.zeros(m, dtype=np.int64)
        index[mine.row] = np.arange(len(mine.row))
        return values.take(pa.array(index, mask=absent))
    if field.type in (_STRING, _BYTES):
        at = start.copy()
        size = np.zeros(m, dtype=np.int64)
        at[mine.row] = mine.at
        size[mine.row] = mine.value.astype(np.int64)
        return _texts(batch, field, at, size, np.arange(m), slow, absent)
    out = np.full(m, field.default_value, dtype=_numpy_type(field))
    out[mine.row] = _numbers(batch, field, mine.value, mine.at)
    return _scalars(field, out, np.arange(m), slow, absent)


def _numpy_type(field: Any) -> Any:
    if field.type == _ENUM:
        return np.int32
    if field.type == 8:
        return np.bool_
    return SCALARS[field.type].to_pandas_dtype()


def _numbers(batch: _Batch, field: Any, value: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The field's values from their varints (``value``) or fixed bytes (at ``at``)."""
    kind = field.type
    if kind in _FIXED:
        raw: np.ndarray = batch.words[at]
        fixed: np.ndarray = (raw if _FIXED[kind][2] == "8" else raw.astype(np.uint32))
        return fixed.view(_FIXED[kind])
    if kind == 3:
        return value.view(np.int64)
    if kind == 4:
        return value
    if kind in (5, _ENUM):
        return value.astype(np.uint32).view(np.int32)
    if kind == 13:
        return value.astype(np.uint32)
    if kind == 8:
        flags: np.ndarray = value != 0
        return flags
    if kind == 17:
        small = value.astype(np.uint32)
        return ((small >> np.uint32(1)) ^ (np.uint32(0) - (small & np.uint32(1)))).view(np.int32)
    return ((value >> np.uint64(1)) ^ (np.uint64(0) - (value & np.uint64(1)))).view(np.int64)


def _scalars(field: Any, values: np.ndarray, rows: np.ndarray, slow: np.ndarray,
             absent: np.ndarray | None) -> pa.Array:
    """A number column (enums as their value names); ``rows`` are the values' messages."""
    if field.type != _ENUM:
        return pa.array(values, SCALARS[field.type], mask=absent)
    names = enum_names(field.enum_type)
    index = {v.number: names.index(v.name) for v in field.enum_type.values}
    numbers = np.array(sorted(index), dtype=np.int32)
    at = np.minimum(np.searchsorted(numbers, values), len(numbers) - 1)
    unknown = numbers[at] != values
    if unknown.any():  # a number the enum does not name: protobuf's parser decides
        slow[rows[unknown]] = True
    codes = np.array([index[int(n)] for n in numbers], dtype=np.int32)[at]
    return pa.DictionaryArray.from_arrays(pa.array(codes, mask=absent),
                                          pa.array(names, pa.string()))


def _texts(batch: _Batch, field: Any, at: np.ndarray, size: np.ndarray, rows: np.ndarray,
           slow: np.ndarray, absent: np.ndarray | None) -> pa.Array:
    """The byte strings at ``at`` (``size`` long) as one column: the batch's buffer seen as
    values and the gaps between them, the values taken (``rows``: their messages)."""
    n = len(at)
    if not n:
        return pa.array([], SCALARS[field.type])
    offsets = np.empty(2 * n, dtype=np.int32)
    offsets[0::2] = at
    offsets[1::2] = at + size
    whole = pa.Array.from_buffers(pa.binary(), 2 * n - 1,
                                  [None, pa.py_buffer(offsets), batch.data])
    values = whole.take(pa.array(np.arange(0, 2 * n, 2), mask=absent))
    if field.type == _BYTES:
        return values
    try:
        return values.cast(pa.string())
    except pa.ArrowInvalid:  # not UTF-8: those messages go to protobuf's parser
        bad = np.array([not _utf8(v) for v in values.to_pylist()], dtype=bool)
        slow[rows[bad]] = True
        return _texts(batch, field, at, np.where(bad, 0, size), rows, slow, absent)


def _utf8(value: bytes | None) -> bool:
    try:
        value is None or value.decode()
    except UnicodeDecodeError:
        return False
    return True


def _messages(batch: _Batch, descriptor: Any, mine: _Records, slow: np.ndarray) -> pa.Array:
    """The nested messages of ``mine`` as one array (of their Arrow type)."""
    end = mine.at + mine.value.astype(np.int64)
    columns, inner = _message(batch, mine.at, end, descriptor)
    name = descriptor.full_name
    if name in _TIMES:
        seconds = columns[descriptor.fields_by_name["seconds"].index].to_numpy()
        nanos = columns[descriptor.fields_by_name["nanos"].index].to_numpy()
        inner |= np.abs(seconds) > MAX_SECONDS
        ns = np.where(inner, 0, seconds) * 1_000_000_000 + nanos
        out = pa.array(ns, pa.int64()).cast(_TIMES[name])
    elif name in WRAPPERS:
        out = columns[0]
    elif not columns:
        out = pa.nulls(len(mine.row), pa.struct([]))
    else:
        out = pa.StructArray.from_arrays(columns, names=[f.name for f in descriptor.fields])
    slow[mine.row[inner]] = True
    return out


def _repeated(batch: _Batch, field: Any, mine: _Records, start: np.ndarray,
              slow: np.ndarray) -> pa.Array:
    m = len(start)
    numeric = field.type not in (_STRING, _BYTES, _MESSAGE)
    mine = _checked(field, mine, slow, packed=numeric)
    if mine.row.size and not (mine.row[1:] >= mine.row[:-1]).all():
        mine = mine.take(np.argsort(mine.row, kind="stable"))
    if field.type == _MESSAGE and field.message_type.GetOptions().map_entry:
        slow[mine.row] = True  # map entries: protobuf's parser (its key order, last wins)
        mine = mine.take(np.zeros(0, dtype=np.int64))
    if numeric:
        rows, values = _elements(batch, field, mine, slow)
        array = _scalars(field, values, rows, slow, None)
    elif field.type == _MESSAGE:
        rows, array = mine.row, _messages(batch, field.message_type, mine, slow)
    else:
        rows = mine.row
        array = _texts(batch, field, mine.at, mine.value.astype(np.int64), rows, slow, None)
    offsets = np.zeros(m + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=m), out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), array)


def _elements(batch: _Batch, field: Any, mine: _Records, slow: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """A repeated number field's elements (packed or not) in order, and their messages."""
    packed = mine.wire == 2 if _WIRE[field.type] != 2 else np.zeros(len(mine.row), bool)
    if not packed.any():
        return mine.row, _numbers(batch, field, mine.value, mine.at)
    size = mine.value.astype(np.int64)
    kind = field.type
    if kind in _FIXED:
        width = int(_FIXED[kind][2])
        bad = packed & (size % width != 0)
        count = np.where(packed, size // width, 1)
    else:
        last = batch.buf[np.maximum(mine.at + size - 1, 0)]
        bad = packed & (size > 0) & (last >= 0x80)
        count = np.ones(len(size), dtype=np.int64)
    if bad.any():
        slow[mine.row[bad]] = True
        packed &= ~bad
        count[bad] = 0
    p = np.flatnonzero(packed)
    first, total = np.repeat(mine.at[p], size[p]), size[p].sum()
    index = first + np.arange(total) - np.repeat(np.cumsum(size[p]) - size[p], size[p])
    data = batch.buf[index]
    if kind in _FIXED:
        raw = data.reshape(-1, width).view(_FIXED[kind]).ravel()
        flat = raw.astype(_numpy_type(field)) if kind != 8 else raw
    else:
        ends = data < 0x80
        seen = np.concatenate([[0], np.cumsum(ends)])
        count[p] = seen[np.cumsum(size[p])] - seen[np.cumsum(size[p]) - size[p]]
        begins = np.concatenate([[0], np.flatnonzero(ends)[:-1] + 1]).astype(np.int64)
        begins = begins[: int(ends.sum())]
        within = np.arange(total) - np.repeat(begins, np.diff(np.append(begins, total)))
        if (within > 9).any():
            owner = np.repeat(mine.row[p], size[p])
            slow[owner[within > 9]] = True
        parts = (data & 0x7F).astype(np.uint64) << (7 * np.minimum(within, 9)).astype(np.uint64)
        raw = np.add.reduceat(parts, begins) if begins.size else parts[:0]
        flat = _numbers(batch, field, raw, np.zeros(len(raw), dtype=np.int64))
    offset = np.cumsum(count) - count
    out = np.empty(int(count.sum()), dtype=flat.dtype)
    single = np.flatnonzero(~packed & ~bad)
    out[offset[single]] = _numbers(batch, field, mine.value[single], mine.at[single])
    out[np.repeat(offset[p], count[p]) + np.arange(len(flat)) -
        np.repeat(np.cumsum(count[p]) - count[p], count[p])] = flat
    return np.repeat(mine.row, count), out
