"""Gaps: the sequences a store does not hold, and why the stream does not have them.

A run of sequences is recorded as a gap only when the stream says the
messages are gone: below its first sequence (purged, or dropped by a
retention limit) or in its list of deleted sequences. A run the stream does
not explain (a replica still catching up answered a read short) is not a
gap: the sync stops before it and the next one reads it again.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import polars as pl

from eventkit.store._disk import GAP_SCHEMA
from eventkit.store._retry import retrying

if TYPE_CHECKING:
    from eventkit.source.jetstream import JetStream

__all__ = ["DELETED", "DROPPED", "MISSING", "UNKNOWN", "GapFinder", "classify_gaps",
           "missing_ranges", "subtract_ranges"]

#: Why a sequence is missing from a store.
DELETED = "deleted"                # removed from the stream one by one (or by a per-subject limit)
DROPPED = "purged or expired"      # below the stream's first sequence: a purge or a retention limit
MISSING = "missing"                # the stream holds it and the store does not (re-sync)
UNKNOWN = "unknown"                # absent when read, and the stream did not say why


def missing_ranges(seqs: pl.Series, lo: int, hi: int) -> list[tuple[int, int]]:
    """The runs of ``lo..hi`` that the sorted, unique ``seqs`` do not hold.

    Examples
    --------
    >>> missing_ranges(pl.Series([3, 4, 7], dtype=pl.UInt64), 1, 9)
    [(1, 2), (5, 6), (8, 9)]
    >>> missing_ranges(pl.Series([], dtype=pl.UInt64), 5, 6)
    [(5, 6)]
    """
    if hi < lo:
        return []
    s = seqs.cast(pl.Int64)
    s = s.filter((s >= lo) & (s <= hi))
    if s.is_empty():
        return [(lo, hi)]
    frame = pl.DataFrame({"s": s}).with_columns(prev=pl.col("s").shift(1, fill_value=lo - 1))
    runs = frame.filter(pl.col("s") - pl.col("prev") > 1)
    out = list(zip((runs["prev"] + 1).to_list(), (runs["s"] - 1).to_list(), strict=True))
    if int(s[-1]) < hi:
        out.append((int(s[-1]) + 1, hi))
    return out


def classify_gaps(ranges: Iterable[tuple[int, int]], first_seq: int,
                  deleted: Sequence[int]) -> pl.DataFrame:
    """Why each missing sequence is missing, as runs: ``first_seq, last_seq, messages, reason``.

    ``first_seq`` and ``deleted`` (sorted) are the stream's: a sequence below
    its first one was purged or expired, one in its deleted list was deleted,
    and the stream says nothing about any other.

    Examples
    --------
    >>> classify_gaps([(1, 4), (7, 9)], first_seq=3, deleted=[8, 9]).rows()
    ... # doctest: +NORMALIZE_WHITESPACE
    [(1, 2, 2, 'purged or expired'), (3, 4, 2, 'unknown'), (7, 7, 1, 'unknown'),
     (8, 9, 2, 'deleted')]
    """
    rows: list[tuple[int, int, int, str]] = []

    def emit(a: int, b: int, reason: str) -> None:
        if rows and rows[-1][3] == reason and rows[-1][1] + 1 == a:
            a = rows.pop()[0]
        rows.append((a, b, b - a + 1, reason))

    for lo, hi in ranges:
        if lo < first_seq:
            emit(lo, min(hi, first_seq - 1), DROPPED)
            lo = first_seq
        cursor = lo
        for d in deleted[bisect.bisect_left(deleted, lo):bisect.bisect_right(deleted, hi)]:
            if d > cursor:
                emit(cursor, d - 1, UNKNOWN)
            emit(d, d, DELETED)
            cursor = d + 1
        if cursor <= hi:
            emit(cursor, hi, UNKNOWN)
    return pl.DataFrame(rows, schema=GAP_SCHEMA, orient="row")


def subtract_ranges(a: Sequence[tuple[int, int]],
                    b: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The runs of ``a`` not covered by ``b`` (both sorted, non-overlapping, inclusive).

    Examples
    --------
    >>> subtract_ranges([(1, 10), (20, 25)], [(3, 4), (9, 21)])
    [(1, 2), (5, 8), (22, 25)]
    """
    out: list[tuple[int, int]] = []
    j = 0
    for lo, hi in a:
        while j < len(b) and b[j][1] < lo:
            j += 1
        k, cursor = j, lo
        while k < len(b) and b[k][0] <= hi:
            if b[k][0] > cursor:
                out.append((cursor, b[k][0] - 1))
            cursor = max(cursor, b[k][1] + 1)
            k += 1
        if cursor <= hi:
            out.append((cursor, hi))
    return out



class GapFinder:
    """Finds the sequences a read skipped, and asks the stream why (once per need)."""

    def __init__(self, js: JetStream, stream: str) -> None:
        self.js = js
        self.stream = stream
        self.first_seq = 0
        self.last_seq = -1
        self.deleted: list[int] = []

    async def find(self, prev: int, seqs: pl.Series) -> pl.DataFrame | None:
        hi = int(seqs[-1])
        if int(seqs[0]) == prev + 1 and hi - prev == len(seqs):
            return None  # contiguous: the common case, no work
        return await self._classify(missing_ranges(seqs, prev + 1, hi))

    async def tail(self, prev: int, stop: int) -> pl.DataFrame | None:
        return await self._classify([(prev + 1, stop)])

    async def _classify(self, ranges: list[tuple[int, int]]) -> pl.DataFrame | None:
        if not ranges:
            return None
        fresh = False
        if ranges[-1][1] > self.last_seq:
            await self.refresh()
            fresh = True
        out = classify_gaps(ranges, self.first_seq, self.deleted)
        if not fresh and (out["reason"] == UNKNOWN).any():
            await self.refresh()  # deleted since we last asked?
            out = classify_gaps(ranges, self.first_seq, self.deleted)
        return out

    async def refresh(self) -> None:
        answer = await retrying(lambda: self.js.api(
            f"STREAM.INFO.{self.stream}", {"deleted_details": True}, stream=self.stream))
        state = answer["state"]
        self.first_seq, self.last_seq = state["first_seq"], state["last_seq"]
        self.deleted = sorted(state.get("deleted") or ())
