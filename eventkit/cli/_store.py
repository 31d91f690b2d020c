"""``eventkit sync | compact | store upgrade``: a stream into a Delta Lake store, and its upkeep."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from eventkit.cli import _common as c


def sync(args: argparse.Namespace) -> int:
    import eventkit as ek

    store = ek.Store(args.store)
    with c.connect(args) as conn:
        result = store.sync(conn, args.stream, subjects=args.subjects or None,
                            progress=not c.no_progress(args), batch=args.batch)
        print(result, flush=True)
        if not args.follow and store.small_files() >= 32:  # a cron job's many small syncs
            from eventkit.source import _loop

            done = _loop.run(store._compact_if_small())
            print(f"compacted {done['files_removed']:,} small files", flush=True)
        if args.follow:
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            follower = store.follow(conn, interval=args.interval, batch=args.batch)
            print(f"following {result.stream!r} into {store.path} (Ctrl-C stops)", flush=True)
            seen = follower.events
            try:
                while not stop.wait(1.0) and follower.running:
                    if follower.events != seen:
                        seen = follower.events
                        print(f"{follower.events:,} new events; store at seq "
                              f"{store.last_seq:,}", flush=True)
            except KeyboardInterrupt:
                pass
            finally:
                follower.stop()
            if follower.error is not None and not follower.running and not stop.is_set():
                print(f"eventkit sync: {follower.error}", file=sys.stderr)
                return 2
    print(f"{store}", flush=True)
    return 0




def compact(args: argparse.Namespace) -> int:
    import eventkit as ek
    from eventkit.exceptions import StoreError

    store = ek.Store(args.store)
    if store.state() is None:
        raise StoreError(f"{args.store} holds no store: give the directory (or URL) of one")
    done = store.compact(retention_hours=args.retention_hours)
    print(f"{store}: {done['files_removed']:,} files rewritten as {done['files_added']:,}, "
          f"{done['vacuumed']:,} removed by vacuum", flush=True)
    return 0


def upgrade(args: argparse.Namespace) -> int:
    import eventkit as ek
    from eventkit.exceptions import StoreError
    from eventkit.store.maintenance import upgrade_if_old
    from eventkit.store.sync import Lock
    from eventkit.store.table import Tables

    path = Path(args.dir)
    lock = Lock(path, create=False)
    if not path.is_dir() or not lock.try_acquire():
        raise StoreError(f"{path} is not a store directory, or another process writes to it")
    try:
        ran = upgrade_if_old(Tables(path))
    finally:
        lock.release()
    print(f"{ek.Store(path)}: " + ("converted to Delta Lake tables" if ran
                                   else "already Delta Lake tables"), flush=True)
    return 0


def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = c.command(sub, "sync", sync, connection=True,
                  help="copy a stream into a local store, resuming after the last sequence "
                       "it holds",
                  description="Copy a stream into a local store. A sync resumes after the last "
                              "sequence the store holds, so a killed or interrupted sync loses "
                              "and duplicates nothing.",
                  example="eventkit sync --server nats://host:4222 --stream RIDES "
                          "--store rides/ --follow")
    p.add_argument("--stream", help="stream name (the store's own once synced)")
    p.add_argument("--store", required=True, help="store directory")
    p.add_argument("--subjects", action="append",
                   help="subject filter for the first sync (repeatable)")
    p.add_argument("--follow", action="store_true", help="keep syncing until Ctrl-C")
    p.add_argument("--interval", type=float, default=1.0,
                   help="seconds between syncs with --follow")
    p.add_argument("--batch", type=int, default=200_000,
                   help="events per commit (memory is bounded by about two)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = c.command(sub, "compact", compact,
                  help="rewrite a store's tables in few large files (Delta optimize), and vacuum",
                  description="Rewrite a store's tables in few large files sorted by seq (Delta "
                              "optimize); with --retention-hours, also delete the files no "
                              "version newer than that needs (vacuum).",
                  example="eventkit compact --store rides/ --retention-hours 168")
    p.add_argument("--store", required=True, help="store directory or URL")
    p.add_argument("--retention-hours", type=float, default=None,
                   help="also delete files no version newer than this needs (vacuum)")

    p = sub.add_parser("store", help="store maintenance: upgrade an old store",
                       description="Store maintenance.",
                       epilog="example: eventkit store upgrade rides/")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = c.command(actions, "upgrade", upgrade,
                  help="convert a store of eventkit 0.1 (Parquet + checkpoint.json) to Delta "
                       "Lake tables", example="eventkit store upgrade rides/")
    q.add_argument("dir")
