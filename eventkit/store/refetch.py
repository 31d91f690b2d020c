"""Runs recorded as "unknown" gaps, read again.

An older eventkit recorded a run the stream did not explain (a read answered
short by a replica catching up) as an "unknown" gap and moved on. A sync now
reads each such run again first: what the stream holds of it is stored, and
the gap row is replaced by what is still missing and why.

Idempotent against a kill at any moment: type rows of the run that the
envelope does not hold are deleted before they are written again; the
envelope commit comes next; the gap rows are corrected last, and a run read
again whose events are all in the envelope only has its gap rows corrected.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import polars as pl
from deltalake import CommitProperties, Transaction

from eventkit.codec import combine
from eventkit.store.gaps import UNKNOWN, GapFinder, missing_ranges

if TYPE_CHECKING:
    from eventkit.source.jetstream import RawBatch
    from eventkit.store._writer import Writer

__all__ = ["refetch_run", "unknown_runs"]


def unknown_runs(writer: Writer) -> list[tuple[int, int]]:
    """The store's "unknown" gap runs (none for a store of some subjects)."""
    state = writer.state
    if state.subjects or not state.gaps:
        return []
    gaps = writer.tables.scan(writer.tables.gaps, {}, state.last_seq, seq="first_seq").filter(
        pl.col("reason") == UNKNOWN).select("first_seq", "last_seq").collect()
    return [(int(a), int(b)) for a, b in gaps.iter_rows()]


async def fetch_run(js: Any, name: str, lo: int, hi: int) -> list[RawBatch]:
    out = []
    fetch = js.fetch(name, start=lo, end=hi)
    async with contextlib.aclosing(fetch) as batches:
        async for raw in batches:
            out.append(raw)
    return out


def refetch_run(writer: Writer, lo: int, hi: int, raws: list[RawBatch],
                finder_rows: pl.DataFrame) -> int:
    """Store what ``raws`` hold of ``lo..hi`` that the envelope lacks; fix the gap rows.

    ``finder_rows`` is the stream's explanation of what is still missing.
    Returns the events stored.
    """
    tables, state = writer.tables, writer.state
    present = set(tables.scan(tables.envelope, {}, None).filter(
        pl.col("seq").is_between(lo, hi)).select("seq").collect()["seq"].to_list())
    decoded = [d for d in (writer.decode(_only(raw, lo, hi, present)) for raw in raws)
               if d is not None and d.envelope.height]
    added = 0
    if decoded:
        whole = combine(decoded)
        env = whole.envelope
        added = env.height
        # type rows of the run the envelope lacks: a refetch killed before its commit
        for name in state.types | {t: 0 for t in env["type"].drop_nulls().unique()}:
            table = tables.open(tables.of_type(name))
            if table is not None:
                keep = f" AND seq NOT IN ({', '.join(map(str, sorted(present)))})" \
                    if present else ""
                table.delete(f"seq >= {lo} AND seq <= {hi}{keep}")
        delta = int(finder_rows["messages"].sum()) - (hi - lo + 1 - len(present))
        writer.store_old(whole, gaps=delta)
    _fix_gap_rows(writer, lo, finder_rows)
    return added


def _only(raw: RawBatch, lo: int, hi: int, present: set[int]) -> RawBatch | None:
    from eventkit.source.jetstream import RawBatch as Batch

    keep = [i for i, s in enumerate(raw.seq.to_list()) if lo <= s <= hi and s not in present]
    if not keep:
        return None
    index = pl.Series(keep)
    where = {j: i for j, i in enumerate(keep)}
    return Batch(raw.seq.gather(index), raw.time.gather(index),
                 [raw.subjects[i] for i in keep],
                 {j: raw.headers[i] for j, i in where.items() if i in raw.headers},
                 [raw.payloads[i] for i in keep])


def _fix_gap_rows(writer: Writer, lo: int, rows: pl.DataFrame) -> None:
    tables, state = writer.tables, writer.state
    table = tables.open(tables.gaps)
    if table is None:
        return
    props = CommitProperties(app_transactions=[Transaction(app_id=state.stream,
                                                           version=state.last_seq)])
    table.delete(f"first_seq = {lo} AND reason = '{UNKNOWN}'", commit_properties=props)
    if rows.height:
        tables.append(table, rows, state.stream, state.last_seq)


def still_missing(seqs: list[int], lo: int, hi: int) -> list[tuple[int, int]]:
    return missing_ranges(pl.Series(sorted(seqs), dtype=pl.UInt64), lo, hi)


__all__ += ["GapFinder", "fetch_run", "still_missing"]
