"""The ``eventkit`` command: ``demo``, ``serve``, ``sync``, ``report`` and ``schema``.

    eventkit demo [--out DIR]         the sample history, end to end, on an embedded server
    eventkit serve [--store DIR]      a local JetStream server until Ctrl-C
    eventkit sync --stream S --store DIR [--server URL] [--follow]
                                      copy a stream into a local Parquet store, incrementally
    eventkit report --server URL --stream S --since 24h --out report.html
    eventkit report --pin report.html the same report again, on the range it pinned
    eventkit schema infer --stream S --out DIR      propose a JSON Schema per type and version
    eventkit schema register TYPE FILE | --from DIR  add versions to a registry (checked)
    eventkit schema check --stream S                every violation of the registered schemas
    eventkit schema list                            the registered types and versions
                                      (a registry: --dir DIR, or --server URL [--bucket B])
"""

from __future__ import annotations

import argparse
import html
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    import polars as pl

    import eventkit as ek
    from eventkit import charts
    from sample_data import load
    from sample_data.publish import publish

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    with ek.EmbeddedServer() as server, ek.connect(server.url) as conn:
        print(f"embedded nats-server with JetStream at {server.url}")
        sample = load()
        t = time.perf_counter()
        info = publish(conn, sample)
        print(f"published {info.messages:,} sample ride-share events to stream {info.name!r} "
              f"in {time.perf_counter() - t:.1f} s")
        events = conn.read(info.name)
        summary = events.summary()
        print(f"\nread back into Arrow: {events!r}\n{summary}\n")
        rides = events.to_polars()
        fares = events.of_type("trip_completed").with_columns(
            city=pl.col("subject").str.split(".").list.get(1))
        sections = [
            ("Events over time", charts.rate(rides)),
            ("Events by type", charts.totals(rides)),
            ("Fares by city", charts.values(fares, "fare", by="city")),
        ]
        page = out / "index.html"
        page.write_text(_page("eventkit demo: ride-share events", summary, sections))
    print(f"wrote {page.resolve()} (self-contained: open it in any browser, no network needed)")
    print(f"demo finished in {time.perf_counter() - began:.1f} s")
    return 0


def _page(title: str, summary: object, sections: list[tuple[str, object]]) -> str:
    from eventkit.charts import to_svg

    body = "\n".join(
        f"<section><h2>{html.escape(name)}</h2>{to_svg(chart)}</section>"  # type: ignore[arg-type]
        for name, chart in sections
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1000px;color:#222}}
pre{{background:#f6f6f6;padding:1rem;overflow:auto}} section{{margin:2rem 0}}</style></head>
<body><h1>{html.escape(title)}</h1>
<pre>{html.escape(str(summary))}</pre>
{body}
</body></html>
"""


def _serve(args: argparse.Namespace) -> int:
    import eventkit as ek

    server = ek.EmbeddedServer(args.store, port=args.port)
    server.start()
    print(f"nats-server with JetStream at {server.url}  (store: {server.store_dir})")
    print("Ctrl-C stops it.", flush=True)
    if args.sample:
        from sample_data.publish import publish

        with ek.connect(server.url) as conn:
            info = publish(conn)
        print(f"loaded {info.messages:,} sample events into stream {info.name!r}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            if not server.running:
                print("nats-server exited:\n" + server.log_tail(), file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print("stopped")
    return 0


def _sync(args: argparse.Namespace) -> int:
    import eventkit as ek

    store = ek.Store(args.store)
    with ek.connect(args.server, creds=args.creds, tls_ca=args.tls_ca) as conn:
        result = store.sync(conn, args.stream, subjects=args.subjects or None,
                            progress=not args.no_progress, batch=args.batch)
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


def _report(args: argparse.Namespace) -> int:
    from eventkit.report import read_pin, report, rerun

    if args.pin:
        path = rerun(args.pin, out=args.out, server=args.server)
    else:
        if not (args.server and args.stream):
            print("eventkit report: give --server and --stream (or --pin report.html)",
                  file=sys.stderr)
            return 2
        path = report(server=args.server, stream=args.stream, subjects=args.subjects,
                      since=args.since, start=args.start, end=args.end,
                      out=args.out or "report.html", notebook=args.notebook, title=args.title)
    pin = read_pin(path)
    print(f"wrote {path.resolve()}: stream {pin['stream']}, sequences {pin['first_seq']} to "
          f"{pin['last_seq']} (rerun: eventkit report --pin {path})")
    return 0


def _connect(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    import eventkit as ek

    return ek.connect(args.server, creds=args.creds, tls_ca=args.tls_ca)


def _registry(args: argparse.Namespace, conn: object | None):  # type: ignore[no-untyped-def]
    import eventkit as ek

    if args.dir:
        return ek.SchemaRegistry.from_dir(args.dir)
    return ek.SchemaRegistry(conn, bucket=args.bucket)  # type: ignore[arg-type]


def _schema_files(folder: Path) -> list[tuple[str, int, Path]]:
    """``(type, version, file)`` of a directory laid out as ``<type>/v<N>.json``."""
    from eventkit.registry import _unescape

    found = []
    for path in sorted(folder.glob("*/v*.json")):
        number = path.stem[1:]
        if number.isdigit():
            found.append((_unescape(path.parent.name, "%"), int(number), path))
    return sorted(found, key=lambda f: (f[0], f[1]))


def _schema_infer(args: argparse.Namespace) -> int:
    import orjson

    from eventkit.registry import SchemaRegistry, _escape

    with _connect(args) as conn:
        events = conn.read(args.stream, subjects=args.subjects, start=args.start,
                           end=args.end, progress=not args.no_progress)
    proposed = SchemaRegistry().infer(events, by_version=True, limit=args.limit)
    if not args.out:
        text = {t: {str(v): s for v, s in vs.items()} for t, vs in proposed.items()}
        print(orjson.dumps(text, option=orjson.OPT_INDENT_2).decode())
        return 0
    out = Path(args.out)
    for event_type, versions in proposed.items():
        for version, schema in versions.items():
            path = out / _escape(event_type, "%") / f"v{version}.json"
            if path.exists():
                print(f"kept {path} (exists)")
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2) + b"\n")
            print(f"wrote {path}  ({len(schema['properties'])} fields, "
                  f"{len(schema.get('required', []))} required)")
    print(f"review them, then: eventkit schema register --from {out} ...")
    return 0


def _schema_register(args: argparse.Namespace) -> int:
    if args.source:
        todo = _schema_files(Path(args.source))
        if not todo:
            print(f"eventkit schema register: no <type>/v<N>.json files in {args.source}",
                  file=sys.stderr)
            return 2
    elif args.type and args.file:
        todo = [(args.type, 0, Path(args.file))]
    else:
        print("eventkit schema register: give TYPE FILE, or --from DIR", file=sys.stderr)
        return 2
    conn = None if args.dir else _connect(args)
    try:
        reg = _registry(args, conn)
        for event_type, _, path in todo:
            version = reg.register(event_type, path.read_text(),
                                   compatibility=args.compatibility, policy=args.policy)
            print(f"{event_type}: version {version}  ({path}; "
                  f"{reg.compatibility(event_type)})")
    finally:
        if conn is not None:
            conn.close()
    return 0


def _schema_check(args: argparse.Namespace) -> int:
    import polars as pl

    with _connect(args) as conn:
        reg = _registry(args, conn)
        events = conn.read(args.stream, subjects=args.subjects, start=args.start,
                           end=args.end, progress=not args.no_progress)
        found = reg.check(events)
        registered = set(reg.types())
    checked = events.to_polars().filter(pl.col("type").is_in(list(registered))).height
    bad = found["seq"].n_unique()
    print(f"{checked:,} events of {len(registered)} registered types checked: {found.height:,} "
          f"violations in {bad:,} events (kept in the stream, nothing dropped)")
    if found.height:
        summary = (found.group_by("type", "version", "path", "reason", maintain_order=True)
                   .agg(pl.len().alias("events"), pl.col("seq").first().alias("first_seq"))
                   .sort("events", descending=True))
        with pl.Config(tbl_rows=args.rows, tbl_width_chars=160, fmt_str_lengths=80,
                       tbl_hide_dataframe_shape=True):
            print(summary)
    if args.out:
        found.write_parquet(args.out)
        print(f"wrote every violation to {args.out}")
    return 1 if found.height else 0


def _schema_list(args: argparse.Namespace) -> int:
    import polars as pl

    conn = None if args.dir else _connect(args)
    try:
        reg = _registry(args, conn)
        table = reg.to_polars()
        print(f"{reg!r}: {table['type'].n_unique()} types, {table.height} versions")
        if table.height:
            with pl.Config(tbl_rows=-1, tbl_width_chars=160, fmt_str_lengths=60,
                           fmt_table_cell_list_len=12, tbl_hide_dataframe_shape=True):
                print(table.with_columns(pl.col("fields").list.len(),
                                         pl.col("required").list.len()))
    finally:
        if conn is not None:
            conn.close()
    return 0


def _add_schema(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    schema = sub.add_parser("schema", help="a schema registry: infer, register, check, list")
    commands = schema.add_subparsers(dest="schema_command", required=True)

    def common(p: argparse.ArgumentParser, *, registry: bool, stream: bool) -> None:
        p.add_argument("--server", help="NATS URL(s) ($NATS_URL by default)")
        p.add_argument("--creds", help="a .creds file")
        p.add_argument("--tls-ca", help="CA certificate of the server")
        if registry:
            p.add_argument("--dir", help="a schema directory (<type>/v<N>.json) instead of "
                                         "the server's key-value bucket")
            p.add_argument("--bucket", default="eventkit_schemas",
                           help="the key-value bucket (default eventkit_schemas)")
        if stream:
            p.add_argument("--stream", required=True)
            p.add_argument("--subjects", action="append", help="subject filter (repeatable)")
            p.add_argument("--start", help="a sequence, an ISO time or a duration ago")
            p.add_argument("--end", help="a sequence or an ISO time")
            p.add_argument("--no-progress", action="store_true", help="no progress bar")

    infer = commands.add_parser("infer", help="propose a JSON Schema per event type and "
                                              "version from a stream's events")
    common(infer, registry=False, stream=True)
    infer.add_argument("--out", help="write <out>/<type>/v<N>.json (else print JSON)")
    infer.add_argument("--limit", type=int, help="events looked at per type and version")
    infer.set_defaults(run=_schema_infer)
    register = commands.add_parser("register", help="register schemas, checked against the "
                                                     "earlier versions")
    common(register, registry=True, stream=False)
    register.add_argument("type", nargs="?", help="event type")
    register.add_argument("file", nargs="?", help="JSON Schema file")
    register.add_argument("--from", dest="source",
                          help="register every <type>/v<N>.json of a directory, in order")
    register.add_argument("--compatibility", type=str.upper, choices=[
        "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL",
        "FULL_TRANSITIVE", "NONE"], help="set the type's mode (BACKWARD unless set before)")
    register.add_argument("--policy", choices=["strict", "lenient"], default="strict",
                          help="strict (Confluent's default): an open object may hold any "
                               "undeclared field; lenient: writers write only declared fields")
    register.set_defaults(run=_schema_register)
    check = commands.add_parser("check", help="validate a stream's events against the "
                                              "registered schemas (exit 1 on violations)")
    common(check, registry=True, stream=True)
    check.add_argument("--out", help="write every violation to this Parquet file")
    check.add_argument("--rows", type=int, default=20, help="summary rows shown")
    check.set_defaults(run=_schema_check)
    listing = commands.add_parser("list", help="the registered types, versions and modes")
    common(listing, registry=True, stream=False)
    listing.set_defaults(run=_schema_list)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eventkit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="publish the sample history to an embedded server, "
                                       "read it back, and write an HTML page of charts")
    demo.add_argument("--out", default="eventkit-demo", help="where the page goes")
    demo.set_defaults(run=_demo)
    serve = sub.add_parser("serve", help="run a local nats-server with JetStream until Ctrl-C")
    serve.add_argument("--store", help="JetStream store directory (temporary by default)")
    serve.add_argument("--port", type=int, default=4222, help="client port (-1: any free)")
    serve.add_argument("--sample", action="store_true", help="load the sample history")
    serve.set_defaults(run=_serve)
    sync = sub.add_parser("sync", help="copy a stream into a local Parquet store, resuming "
                                       "after the last sequence it holds")
    sync.add_argument("--server", help="NATS URL(s), comma-separated ($NATS_URL by default)")
    sync.add_argument("--stream", help="stream name (the store's own once synced)")
    sync.add_argument("--store", required=True, help="store directory")
    sync.add_argument("--subjects", action="append",
                      help="subject filter for the first sync (repeatable)")
    sync.add_argument("--creds", help="a .creds file")
    sync.add_argument("--tls-ca", help="CA certificate of the server")
    sync.add_argument("--follow", action="store_true", help="keep syncing until Ctrl-C")
    sync.add_argument("--interval", type=float, default=1.0,
                      help="seconds between syncs with --follow")
    sync.add_argument("--batch", type=int, default=50_000,
                      help="events per Parquet segment (memory is bounded by a few)")
    sync.add_argument("--no-progress", action="store_true", help="no progress bar")
    sync.set_defaults(run=_sync)
    rep = sub.add_parser("report", help="run the report notebook on a stream and write one "
                                        "self-contained HTML page")
    rep.add_argument("--server", help="NATS URL (credentials from NATS_* or a NATS context)")
    rep.add_argument("--stream")
    rep.add_argument("--subjects", action="append", help="subject filter (repeatable)")
    rep.add_argument("--since", help="a duration ago, e.g. 24h")
    rep.add_argument("--start", help="a sequence or an ISO time")
    rep.add_argument("--end", help="a sequence or an ISO time")
    rep.add_argument("--out", help="the HTML file (report.html)")
    rep.add_argument("--notebook", help="your own report notebook (a cell tagged parameters)")
    rep.add_argument("--title")
    rep.add_argument("--pin", help="rerun the report this HTML file pinned, on the same range")
    rep.set_defaults(run=_report)
    _add_schema(sub)
    args = parser.parse_args(argv)
    from eventkit.exceptions import EventkitError

    try:
        return int(args.run(args))
    except EventkitError as exc:
        print(f"eventkit {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
