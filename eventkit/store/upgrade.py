"""An eventkit 0.1 store (Parquet segments listed by ``checkpoint.json``) made Delta tables.

Each old segment becomes one commit of each table, written in the new disk
types; the envelope's last commit records the old checkpoint's last sequence
and counts. A conversion killed part-way is started again (each table's
first commit overwrites); the old files and the checkpoint are removed only
after that last commit, and only those the checkpoint lists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import polars as pl
from deltalake import CommitProperties, Transaction, write_deltalake

from eventkit.envelope import Rules
from eventkit.exceptions import StoreError
from eventkit.store import integrity as _integrity
from eventkit.store._disk import MISFIT_SCHEMA, fit, from_disk, to_disk, type_dir
from eventkit.store.table import _CREATE, _WRITER, META, State, Tables, table_schema

__all__ = ["convert"]

_HEAD_DISK = frozenset({"seq", "subject", "time", "time_ns", "type", "key", "event_time",
                        "event_time_ns"})


def _segment_name(seg: dict[str, int]) -> str:
    return f"part-{int(seg['lo']):020d}-{int(seg['hi']):020d}.parquet"


def convert(tables: Tables) -> bool:
    root = tables.local
    assert root is not None
    cp_path = root / "checkpoint.json"
    try:
        cp = json.loads(cp_path.read_text())
        segments = cp["segments"]
        rules = Rules(**cp["rules"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"{cp_path} is not a readable eventkit 0.1 checkpoint ({exc}); move "
                         "the store aside and sync into a new directory") from None
    envelope = tables.open(tables.envelope)
    done = None
    if envelope is not None:
        try:
            done = tables.state(envelope)
        except StoreError:
            done = None  # a conversion killed before its last commit: start again
    if done is None or done.last_seq != int(cp["last_seq"]):
        _write_all(tables, cp, segments, rules)
    _remove_old(root, segments)
    cp_path.unlink(missing_ok=True)
    return True


def _write_all(tables: Tables, cp: dict[str, Any], segments: list[dict[str, Any]],
               rules: Rules) -> None:
    root = tables.local
    assert root is not None
    stream, last = cp["stream"], int(cp["last_seq"])
    first: set[str] = set()
    types: dict[str, int] = {}
    events = gaps = misfits = 0

    def put(uri: str, frame: pl.DataFrame, hi: int, meta: str | None = None) -> None:
        mode: Literal["append", "overwrite"] = "append" if uri in first else "overwrite"
        first.add(uri)
        props = CommitProperties(app_transactions=[Transaction(app_id=stream, version=hi)],
                                 custom_metadata={META: meta} if meta else None)
        write_deltalake(uri, to_disk(frame).rechunk().to_arrow(), mode=mode, schema_mode=(
            "merge" if mode == "append" else "overwrite"), writer_properties=_WRITER,
            commit_properties=props, configuration=_CREATE)
        table = tables.open(uri)
        assert table is not None
        _integrity.record(tables, table)

    for i, seg in enumerate(segments):
        name, hi = _segment_name(seg), int(seg["hi"])
        env = None
        if int(seg.get("events", 0)):
            env = pl.read_parquet(root / "envelope" / name, hive_partitioning=False)
        for t in seg.get("types") or {}:
            frame = pl.read_parquet(root / "types" / type_dir(t) / name,
                                    hive_partitioning=False)
            uri = tables.of_type(t)
            if uri in first and env is not None:
                table = tables.open(uri)
                disk, bad = fit(to_disk(frame), table_schema(table),
                                env.join(frame.select("seq"), on="seq")["data"], t, _HEAD_DISK)
                frame = from_disk(disk.lazy(), disk.schema).collect()
                if bad.height:
                    put(tables.misfits, bad.select(list(MISFIT_SCHEMA)), hi)
                    misfits += bad.height
            put(uri, frame, hi)
            types[t] = types.get(t, 0) + frame.height
        if int(seg.get("gaps", 0)):
            holes = pl.read_parquet(root / "gaps" / name, hive_partitioning=False)
            put(tables.gaps, holes, hi)
            gaps += int(seg["gaps"])
        events += env.height if env is not None else 0
        meta = None
        if i == len(segments) - 1:
            meta = State(stream, tuple(cp["subjects"]), rules, last, events, gaps, misfits,
                         types, cp.get("stream_created")).to_json()
        from eventkit.envelope import ENVELOPE_SCHEMA

        put(tables.envelope, env if env is not None else pl.DataFrame(schema=ENVELOPE_SCHEMA),
            hi, meta)
    if not segments:
        from eventkit.envelope import ENVELOPE_SCHEMA

        put(tables.envelope, pl.DataFrame(schema=ENVELOPE_SCHEMA), last, State(
            stream, tuple(cp["subjects"]), rules, last, created=cp.get("stream_created"))
            .to_json())


def _remove_old(root: Path, segments: list[dict[str, Any]]) -> None:
    """The old files the checkpoint listed, and nothing else."""
    for seg in segments:
        name = _segment_name(seg)
        (root / "envelope" / name).unlink(missing_ok=True)
        (root / "gaps" / name).unlink(missing_ok=True)
        for t in seg.get("types") or {}:
            (root / "types" / type_dir(t) / name).unlink(missing_ok=True)
