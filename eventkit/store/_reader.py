"""Reading a store's table in sequence order, a row group at a time (what a replay reads).

A scan filtered on ``seq > after`` and cut to a batch reads the table's
files again for every batch; a replay of millions of events then spends its
time finding where it was. Here each data file is opened once, its row groups
read in order (those wholly at or before ``after`` skipped by their
statistics), so memory holds a row group or two, whatever the table's size.
Files that overlap in ``seq`` (never written by a sync; a hand-made table)
fall back to one sorted scan.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from eventkit.store._disk import from_disk
from eventkit.store.table import Tables, table_schema

if TYPE_CHECKING:
    from deltalake import DeltaTable

__all__ = ["Ordered"]


class Ordered:
    """The rows of one table with ``after < seq <= upto``, in ``seq`` order, in memory types.

    :meth:`take` hands out the rows up to a sequence, so several tables can
    be read side by side (the envelope and each type's table of a replay).
    """

    def __init__(self, tables: Tables, table: DeltaTable | None, after: int, upto: int,
                 *, columns: list[str] | None = None, rows: int = 16384) -> None:
        self.after, self.upto = after, upto
        self._held: list[pl.DataFrame] = []
        self._held_rows = 0
        self._batches: Iterator[pl.DataFrame] = iter(())
        if table is not None:
            disk = table_schema(table)
            if columns is not None:
                disk = {n: t for n, t in disk.items()
                        if n in columns or (n.endswith("_ns") and n[:-3] in columns)}
            self._batches = self._read(tables, table, disk, rows)
        self._done = False

    def _read(self, tables: Tables, table: DeltaTable, disk: dict[str, pl.DataType],
              rows: int) -> Iterator[pl.DataFrame]:
        paths, overlap = tables.files(table)
        if overlap or tables.local is None or not paths:
            yield from self._scanned(tables, table, disk, rows)
            return
        import pyarrow.parquet as pq

        names = list(disk)
        for path in paths:
            with pq.ParquetFile(path, pre_buffer=False) as file:  # a row group at a time
                meta, keep = file.metadata, []
                index = file.schema_arrow.get_field_index("seq")
                for i in range(meta.num_row_groups):
                    stats = meta.row_group(i).column(index).statistics if index >= 0 else None
                    if stats is not None and stats.has_min_max and (
                            stats.max <= self.after or stats.min > self.upto):
                        continue
                    keep.append(i)
                if not keep:
                    continue
                present = [n for n in names if n in file.schema_arrow.names]
                for batch in file.iter_batches(batch_size=rows, row_groups=keep,
                                               columns=present, use_threads=True):
                    frame = self._frame(pa.Table.from_batches([batch]), disk)
                    if frame.height:
                        yield frame

    def _frame(self, data: pa.Table, disk: dict[str, pl.DataType]) -> pl.DataFrame:
        frame = pl.from_arrow(data)
        assert isinstance(frame, pl.DataFrame)
        missing = [pl.lit(None, dtype=t).alias(n) for n, t in disk.items()
                   if n not in frame.columns]  # a column added to the table after this file
        lf = frame.lazy().with_columns(missing).select(list(disk))
        lf = lf.filter(pl.col("seq").is_between(self.after + 1, self.upto))
        return from_disk(lf, disk).collect()

    def _scanned(self, tables: Tables, table: DeltaTable, disk: dict[str, pl.DataType],
                 rows: int) -> Iterator[pl.DataFrame]:
        frame = tables.scan(table.table_uri, {}, self.upto).select(
            [n for n in from_disk(pl.LazyFrame(schema=disk), disk).collect_schema()])
        after = self.after
        while True:
            part = frame.filter(pl.col("seq") > after).head(rows).collect()
            if not part.height:
                return
            yield part
            after = int(part["seq"][-1])

    def take(self, upto: int) -> pl.DataFrame | None:
        """The rows with ``seq <= upto`` not handed out yet (None if there are none)."""
        while not self._done and (not self._held or int(self._held[-1]["seq"][-1]) <= upto):
            batch = next(self._batches, None)
            if batch is None:
                self._done = True
                break
            self._held.append(batch)
        if not self._held:
            return None
        whole = self._held[0] if len(self._held) == 1 else pl.concat(self._held)
        n = int(whole["seq"].search_sorted(upto, side="right"))
        rest = whole.slice(n)
        self._held = [rest] if rest.height else []
        return whole.head(n) if n else None

    def __iter__(self) -> Iterator[pl.DataFrame]:
        """The rows, a batch (a row group) at a time."""
        held, self._held = self._held, []
        yield from held
        yield from self._batches
        self._done = True
