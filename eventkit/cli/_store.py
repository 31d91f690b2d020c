"""``eventkit sync``: copy a stream into a local store, incrementally."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from eventkit.cli import _common as c


def sync(args: argparse.Namespace) -> int:
    import eventkit as ek

    store = ek.Store(args.store)
    with c.connect(args) as conn:
        result = store.sync(conn, args.stream, subjects=args.subjects or None,
                            progress=not c.no_progress(args), batch=args.batch)
        print(result, flush=True)
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




def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("sync", help="copy a stream into a local store, resuming after the "
                                    "last sequence it holds",
                       description="Copy a stream into a local store. A sync resumes after "
                                   "the last sequence the store holds, so a killed or "
                                   "interrupted sync loses and duplicates nothing.",
                       epilog="example: eventkit sync --server nats://host:4222 --stream RIDES "
                              "--store rides/ --follow")
    c.add_connection(p)
    p.add_argument("--stream", help="stream name (the store's own once synced)")
    p.add_argument("--store", required=True, help="store directory")
    p.add_argument("--subjects", action="append",
                   help="subject filter for the first sync (repeatable)")
    p.add_argument("--follow", action="store_true", help="keep syncing until Ctrl-C")
    p.add_argument("--interval", type=float, default=1.0,
                   help="seconds between syncs with --follow")
    p.add_argument("--batch", type=int, default=50_000,
                   help="events per batch (memory is bounded by a few)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=sync)
