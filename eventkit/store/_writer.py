"""Writing sync batches: the type, gaps and misfits tables first, then the envelope commit."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl
from deltalake import DeltaTable

from eventkit.codec import Decoded, Hints, decode
from eventkit.connection import registry_writers
from eventkit.exceptions import StoreError
from eventkit.formats.rules import FormatRules
from eventkit.store import integrity as _integrity
from eventkit.store._disk import MISFIT_SCHEMA, fit, to_disk
from eventkit.store.table import State, Tables, table_schema

if TYPE_CHECKING:
    from eventkit.source.jetstream import RawBatch

__all__ = ["SyncResult", "Writer"]

_HEAD = ["seq", "subject", "time", "type", "key", "event_time"]
_HEAD_DISK = frozenset({"seq", "subject", "time", "time_ns", "type", "key", "event_time",
                        "event_time_ns"})
_SIDE = ThreadPoolExecutor(max_workers=4, thread_name_prefix="eventkit-store-types")
#: More types than this from one stream: the type rule most likely takes an id.
MANY_TYPES = 1_000
#: A commit is made once this many bytes of events are held, however few (big messages).
COMMIT_BYTES = 32 * 2**20


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What one sync did."""

    stream: str
    events: int                 #: events stored by this sync
    first_seq: int | None       #: first sequence it stored
    last_seq: int               #: the store's last sequence after it
    gaps: int                   #: sequences it found missing from the stream
    seconds: float
    stopped: str | None = None  #: why it stopped before the stream's end (None: it did not)
    notes: tuple[str, ...] = ()  #: what the store should tell the user (warned by ``sync``)

    def __str__(self) -> str:
        stop = f" (stopped early: {self.stopped})" if self.stopped else ""
        if not self.events and not self.gaps:
            return f"{self.stream}: nothing new after seq {self.last_seq:,}{stop}"
        gaps = f", {self.gaps:,} missing from the stream (recorded as gaps)" if self.gaps else ""
        where = f" (seq {self.first_seq:,}..)" if self.first_seq is not None else ""
        return (f"{self.stream}: stored {self.events:,} new events{where}{gaps}; "
                f"synced to seq {self.last_seq:,} in {self.seconds:.2f} s{stop}")

    def _repr_html_(self) -> str:  # a notebook shows the sentence, not the dataclass
        from eventkit._display import result_html

        return result_html(f"Sync of {self.stream}", str(self), ok=self.stopped is None)


@dataclass(frozen=True, slots=True)
class _Held:
    """A batch read and decoded, waiting for its commit."""

    decoded: Decoded | None
    hi: int                   #: the last sequence it accounts for
    gaps: pl.DataFrame | None


class Writer:
    """Writes the batches of one sync, one after another (on one worker thread)."""

    def __init__(self, tables: Tables, state: State, envelope: DeltaTable | None,
                 schemas: Any = None) -> None:
        self.tables = tables
        self.state = state
        self.envelope = envelope
        self.schemas = schemas  # a registry snapshot: its column types, its upcasters
        self.events = self.gaps = 0
        self.first_seq: int | None = None
        self.failed: BaseException | None = None
        self.hints = Hints()  # what one batch teaches the decoding of the next
        self.formats = FormatRules.parse(None)  # how payload formats are found
        self.writers = registry_writers(schemas)  # the registry's Avro/Protobuf schemas
        self._open: dict[str, DeltaTable | None] = {}
        self._warned = False
        self._held: list[_Held] = []  # batches read, not yet committed
        self._held_events = self._held_bytes = 0
        self.notes: list[str] = []  # warned in the caller's thread when the sync returns

    def result(self, began: float, stopped: str | None = None) -> SyncResult:
        return SyncResult(self.state.stream, self.events, self.first_seq, self.state.last_seq,
                          self.gaps, time.perf_counter() - began, stopped, tuple(self.notes))

    def decode(self, raw: RawBatch | None) -> Decoded | None:
        """A batch decoded (on its own thread: the next one decodes while one is written)."""
        if raw is None or not len(raw):
            return None
        seq = raw.seq
        if not bool((seq.diff().drop_nulls() > 0).all()):
            raise StoreError(f"a batch of {self.state.stream!r} is not in sequence order: "
                             "nothing was written")
        decoded = decode(raw.seq, raw.time, raw.subjects, raw.headers, raw.payloads,
                         self.state.rules, hints=self.hints, formats=self.formats,
                         writers=self.writers)
        if self.schemas is not None:
            decoded = self.schemas.apply(decoded, self.state.rules)
        return decoded

    def append(self, raw: RawBatch | Decoded | Future[Decoded | None] | None, lo: int, hi: int,
               gaps: pl.DataFrame | None) -> None:
        """Store one batch (seqs ``lo..hi``), and what is held before it, in one envelope commit."""
        self.add(raw, lo, hi, gaps, commit_at=0)

    def add(self, raw: RawBatch | Decoded | Future[Decoded | None] | None, lo: int, hi: int,
            gaps: pl.DataFrame | None, *, commit_at: int = 0) -> None:
        """Hold one batch (seqs ``lo..hi``); commit what is held once it reaches ``commit_at``
        events (each commit has a fixed cost: fewer, bigger commits sync faster)."""
        if isinstance(self.failed, KeyboardInterrupt):  # polars took Ctrl-C in this thread
            raise KeyboardInterrupt
        if self.failed is not None:  # never write past a batch that failed
            raise StoreError(f"an earlier batch failed: {self.failed}") from None
        try:
            if isinstance(raw, Future):
                raw = raw.result()
            decoded = raw if isinstance(raw, Decoded) or raw is None else self.decode(raw)
            if decoded is not None:
                seq = decoded.envelope["seq"]
                if len(seq) and (int(seq[0]) < lo or int(seq[-1]) > hi):
                    raise StoreError(f"batch {lo}..{hi} of {self.state.stream!r} is not in "
                                     "sequence order: nothing was written")
            self._held.append(_Held(decoded, hi, gaps))
            if decoded is not None:
                self._held_events += decoded.envelope.height
                self._held_bytes += int(decoded.envelope.estimated_size())
            if self._held_events >= commit_at or self._held_bytes >= COMMIT_BYTES:
                self._commit()
        except BaseException as exc:
            self.failed = exc
            raise

    def flush(self) -> None:
        """Commit what is held (the end of a sync)."""
        if self._held and self.failed is None:
            try:
                self._commit()
            except BaseException as exc:
                self.failed = exc
                raise

    def _table(self, uri: str, seq: str = "seq") -> DeltaTable | None:
        """A side table, opened once per sync and trimmed to the envelope's last sequence."""
        if uri not in self._open:
            table = self.tables.open(uri)
            if table is not None:
                self.tables.trim(table, self.state.stream, self.state.last_seq, seq)
            self._open[uri] = table
        return self._open[uri]

    def _write(self, uri: str, frame: pl.DataFrame, hi: int, seq: str = "seq",
               disk: bool = False) -> None:
        table = self._table(uri, seq)
        written = self.tables.append(table if table is not None else uri, frame,
                                     self.state.stream, hi, disk=disk)
        self._open[uri] = written
        _integrity.record(self.tables, written)

    def _commit(self) -> None:
        """The held batches: the gaps, misfits and type tables, then one envelope commit."""
        held, self._held, self._held_events, self._held_bytes = self._held, [], 0, 0
        hi = held[-1].hi
        found = [h.gaps for h in held if h.gaps is not None and h.gaps.height]
        gaps = pl.concat(found) if found else None
        n_gaps = int(gaps["messages"].sum()) if gaps is not None else 0
        if gaps is not None and n_gaps:
            self._write(self.tables.gaps, gaps, hi, "first_seq")
        batches = [h.decoded for h in held
                   if h.decoded is not None and h.decoded.envelope.height]
        env = pl.concat([d.envelope for d in batches]) if batches else None
        types, misfits = self._types(batches, hi) if batches else ({}, 0)
        state = self.state.advanced(hi, events=env.height if env is not None else 0,
                                    types=types, gaps=n_gaps, misfits=misfits)
        frame = env if env is not None else _empty_envelope()
        table = self.tables.append(self.envelope if self.envelope is not None
                                   else self.tables.envelope, frame, state.stream, hi, state)
        self.envelope = table
        _integrity.record(self.tables, table)
        self.state = State.from_json(state.to_json(), table.version(), self.tables.root)
        if env is not None and env.height:
            self.events += env.height
            if self.first_seq is None:
                self.first_seq = int(env["seq"][0])
        self.gaps += n_gaps
        self._warn_many_types()

    def store_old(self, decoded: Decoded, gaps: int = 0) -> None:
        """Events below the last sequence (a run read again), in one envelope commit."""
        last = self.state.last_seq
        env = decoded.envelope
        types, misfits = self._types([decoded], last)
        state = self.state.advanced(last, events=env.height, types=types, gaps=gaps,
                                    misfits=misfits)
        table = self.tables.append(self.envelope if self.envelope is not None
                                   else self.tables.envelope, env, state.stream, last, state)
        self.envelope = table
        _integrity.record(self.tables, table)
        self.state = State.from_json(state.to_json(), table.version(), self.tables.root)
        self.events += env.height
        self.gaps += gaps

    def _types(self, batches: list[Decoded], hi: int) -> tuple[dict[str, int], int]:
        """Each type's rows of ``batches`` in one commit of its table; the misfits' count."""
        parts: dict[str, list[tuple[pl.DataFrame, pl.Series]]] = {}
        for decoded in batches:
            env, typed = decoded.envelope, decoded.typed
            split = env.select([*_HEAD, "data"]).partition_by("type", as_dict=True,
                                                               maintain_order=True)
            for (event_type,), rows in split.items():
                if event_type is None:
                    continue
                head = rows.drop("data")
                fields = typed.get(event_type)
                if fields is None:
                    frame = head
                elif (fields.height == head.height and fields["seq"].equals(head["seq"])
                      and not (set(fields.columns) - {"seq"}) & set(head.columns)):
                    frame = head.hstack(fields.drop("seq").get_columns())  # the usual case
                else:
                    frame = head.join(fields, on="seq", how="left", maintain_order="left")
                parts.setdefault(event_type, []).append((to_disk(frame), rows["data"]))

        def one(event_type: str, pieces: list[tuple[pl.DataFrame, pl.Series]]
                ) -> list[pl.DataFrame]:
            # each piece fits the table as it would be after the pieces before it: the
            # same columns and misfits as one commit per batch
            uri = self.tables.of_type(event_type)
            schema = table_schema(self._table(uri))
            fitted: list[pl.DataFrame] = []
            bad: list[pl.DataFrame] = []
            for disk, data in pieces:
                if schema and any(schema.get(n, t) != t for n, t in disk.schema.items()):
                    disk, misfit = fit(disk, schema, data, event_type, _HEAD_DISK)
                    if misfit.height:
                        bad.append(misfit)
                schema = {**schema, **disk.schema}
                fitted.append(disk)
            frame = fitted[0] if len(fitted) == 1 else pl.concat(fitted, how="diagonal")
            self._write(uri, frame, hi, disk=True)
            return bad

        # the type tables are independent: their commits run side by side (delta-rs
        # releases the GIL), and all of them end before the envelope's commit
        jobs = [(t, _SIDE.submit(one, t, pieces)) for t, pieces in parts.items()]
        wait([job for _, job in jobs])  # all of them ended, whether one failed or not
        bad: list[pl.DataFrame] = []
        for _, job in jobs:
            bad += job.result()
        counts = {t: sum(d.height for d, _ in pieces) for t, pieces in parts.items()}
        n_bad = sum(b.height for b in bad)
        if bad:
            self._write(self.tables.misfits, pl.concat(bad), hi)
        return counts, n_bad

    def _warn_many_types(self) -> None:
        if self._warned or len(self.state.types) <= MANY_TYPES:
            return
        self._warned = True
        top = ", ".join(list(self.state.types)[:3])
        self.notes.append(
            f"the store of {self.state.stream!r} now has {len(self.state.types):,} event types "
            f"(e.g. {top}): one table each. The type rule ({self.state.rules.describe()}) "
            "probably takes an entity id: set the type rule (Rules(type='field:type') or "
            "'subject:N' for the token that names the event), or set the stream's metadata "
            "eventkit.type, and sync into a new directory")


def _empty_envelope() -> pl.DataFrame:
    from eventkit.envelope import ENVELOPE_SCHEMA

    return pl.DataFrame(schema=ENVELOPE_SCHEMA)


def no_misfits() -> pl.DataFrame:
    return pl.DataFrame(schema=MISFIT_SCHEMA)
