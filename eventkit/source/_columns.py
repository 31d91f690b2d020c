"""Bytes per message kept as one Arrow array, with a list's face for code that indexes it.

A bulk read never makes a Python ``bytes`` per message: the parser finds
where each subject, reply subject and payload lies in the buffers the
socket filled, and :func:`views` turns those positions into one Arrow
``binary_view`` array pointing into the buffers (no copy). :class:`Column`
wraps such an array so that code written for lists (``col[i]``,
``col[a:b]``, ``len``, iteration) still works, while the decoder takes the
array itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

import numpy as np
import pyarrow as pa

__all__ = ["Column", "column", "concat", "gather", "sizes", "take", "total", "views"]

_INLINE = 12  # a binary_view value this long or shorter is stored in its view


class Column(Sequence[bytes]):
    """Bytes per message as one Arrow array (``binary_view`` or ``large_binary``).

    Examples
    --------
    >>> col = Column(pa.array([b"a", b"bc", b"def"], pa.binary_view()))
    >>> len(col), col[1], col[1:].to_list(), list(col) == [b"a", b"bc", b"def"]
    (3, b'bc', [b'bc', b'def'], True)
    """

    __slots__ = ("array",)

    def __init__(self, array: pa.Array) -> None:
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    @overload
    def __getitem__(self, i: int) -> bytes: ...
    @overload
    def __getitem__(self, i: slice) -> Column: ...
    def __getitem__(self, i: int | slice) -> bytes | Column:
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self.array))
            if step == 1:
                return Column(self.array.slice(start, max(stop - start, 0)))
            return Column(take(self.array, np.arange(start, stop, step)))
        value = self.array[i].as_py()
        return value if value is not None else b""

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.to_list())

    def to_list(self) -> list[bytes]:
        return [b"" if v is None else v for v in self.array.to_pylist()]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Column):
            return self.array.equals(other.array)
        if isinstance(other, Sequence):
            return self.to_list() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Column({len(self)} values)"


def column(values: Sequence[bytes]) -> Column:
    """``values`` as a :class:`Column` (itself if it is one)."""
    if isinstance(values, Column):
        return values
    return Column(pa.array(values, pa.binary_view()))


def sizes(values: Sequence[bytes]) -> np.ndarray:
    """The length of each value, as int64.

    >>> sizes([b"ab", b""]).tolist(), sizes(column([b"abc"])).tolist()
    ([2, 0], [3])
    """
    if isinstance(values, Column):
        arr = values.array
        if pa.types.is_binary_view(arr.type):
            return _view_lengths(arr)
        return np.diff(np.frombuffer(arr.buffers()[1], np.int64,
                                     len(arr) + 1, arr.offset * 8)).astype(np.int64)
    return np.fromiter(map(len, values), np.int64, len(values))


def total(values: Sequence[bytes]) -> int:
    """Bytes in all values."""
    if isinstance(values, Column):
        return int(sizes(values).sum())
    return sum(map(len, values))


def _view_lengths(arr: pa.Array) -> np.ndarray:
    raw = np.frombuffer(arr.buffers()[1], np.int32, len(arr) * 4, arr.offset * 16)
    return raw[0::4].astype(np.int64)


def concat(parts: Sequence[Sequence[bytes]]) -> Sequence[bytes]:
    """The parts one after the other: a list if every part is one, else a :class:`Column`."""
    if len(parts) == 1:
        return parts[0]
    if all(isinstance(p, list) for p in parts):
        return [v for p in parts for v in p]
    arrays = [column(p).array for p in parts]
    return Column(pa.concat_arrays([a if pa.types.is_binary_view(a.type)
                                    else a.cast(pa.binary_view()) for a in arrays]))


def gather(values: Sequence[bytes], rows: Sequence[int]) -> Sequence[bytes]:
    """The values at ``rows``, in that order."""
    if isinstance(values, Column):
        return Column(take(values.array, np.asarray(rows, np.int64)))
    return [values[i] for i in rows]


def take(arr: pa.Array, rows: np.ndarray) -> pa.Array:
    """The values of ``arr`` at ``rows``; a ``binary_view`` array's views are gathered and
    its data is shared (Arrow has no take for views).

    >>> take(pa.array([b"a", b"b" * 20, b"c"], pa.binary_view()), np.array([2, 1])).to_pylist()
    [b'c', b'bbbbbbbbbbbbbbbbbbbb']
    """
    if not pa.types.is_binary_view(arr.type) or arr.null_count:
        return arr.take(pa.array(rows, pa.int64()))
    structs = np.frombuffer(arr.buffers()[1], np.uint8).reshape(-1, 16)
    picked = structs[arr.offset:arr.offset + len(arr)][rows]
    return pa.Array.from_buffers(pa.binary_view(), len(rows),
                                 [None, pa.py_buffer(picked), *arr.buffers()[2:]])


def views(buf: bytes, start: np.ndarray, stop: np.ndarray) -> pa.Array:
    """A ``binary_view`` array of ``buf[start[i]:stop[i]]``, without copying ``buf``.

    Examples
    --------
    >>> buf = b"..short..yyyyyyyyyyyyyyyyyyyy"
    >>> views(buf, np.array([2, 9, 0]), np.array([7, 29, 0])).to_pylist()
    [b'short', b'yyyyyyyyyyyyyyyyyyyy', b'']
    """
    n = len(start)
    length = stop - start
    out = np.zeros((n, 4), np.int32)
    out[:, 0] = length
    arr = np.frombuffer(buf, np.uint8)
    last = max(len(arr) - 1, 0)
    longs = np.flatnonzero(length > _INLINE)
    if len(longs):  # a 4-byte prefix, the buffer (0) and the offset
        at = start[longs]
        for shift in range(4):  # int32 reads at any offset: one aligned view per shift
            picked = np.flatnonzero(at % 4 == shift)
            if len(picked):
                words = np.frombuffer(buf, np.int32, (len(buf) - shift) // 4, shift)
                out[longs[picked], 1] = words[(at[picked] - shift) // 4]
        out[longs, 3] = at
    shorts = np.flatnonzero(length <= _INLINE)
    if len(shorts) and len(arr):  # the value itself, in the view
        reach = np.arange(_INLINE)
        at = np.minimum(start[shorts, None] + reach, last)
        inline = np.where(reach < length[shorts, None], arr[at], 0).astype(np.uint8)
        out.view(np.uint8).reshape(n, 16)[shorts, 4:] = inline
    return pa.Array.from_buffers(pa.binary_view(), n, [None, pa.py_buffer(out), pa.py_buffer(buf)])
