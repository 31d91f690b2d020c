"""``eventkit streams | info | view | export``: what ``nats stream ls/info/view`` users expect."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from eventkit.cli import _common as c

if TYPE_CHECKING:
    import polars as pl

    from eventkit.connection import Connection
    from eventkit.events import Events


def streams(args: argparse.Namespace) -> int:
    with c.connect(args) as conn:
        table = conn.streams()
    if args.json:
        c.print_json(table.to_dicts())
    elif table.is_empty():
        print(f"no streams on {args.server or 'the server'}: create one, or check the account")
    else:
        c.print_frame(table)
    return 0


def info(args: argparse.Namespace) -> int:
    with c.connect(args) as conn:
        stream = conn.stream(args.stream)
        consumers = conn.consumers(args.stream)
    config = stream.config
    facts: dict[str, Any] = {
        "name": stream.name, "subjects": list(stream.subjects),
        "messages": stream.messages, "bytes": stream.bytes,
        "first_seq": stream.first_seq, "last_seq": stream.last_seq,
        "first_time": stream.first_time, "last_time": stream.last_time,
        "deleted": stream.deleted, "consumers": stream.consumers,
        "retention": config.get("retention"), "storage": config.get("storage"),
        "replicas": config.get("num_replicas"), "discard": config.get("discard"),
        "max_msgs": config.get("max_msgs"), "max_bytes": config.get("max_bytes"),
        "max_age_s": (config.get("max_age") or 0) / 1e9,
        "max_msg_size": config.get("max_msg_size"),
        "duplicate_window_s": (config.get("duplicate_window") or 0) / 1e9,
        "allow_direct": config.get("allow_direct", False),
        "placement": config.get("placement"), "metadata": stream.metadata,
        "cluster": stream.cluster,
    }
    if args.json:
        c.print_json({**facts, "consumer_list": consumers.to_dicts()})
        return 0
    width = max(map(len, facts))
    for key, value in facts.items():
        if value in (None, {}, []):
            continue
        shown = "unlimited" if key.startswith("max_") and value in (-1, 0) else value
        print(f"{key:>{width}}  {shown}")
    print(f"\n{consumers.height} consumers" + (":" if consumers.height else ""))
    if consumers.height:
        c.print_frame(consumers)
    return 0


def view(args: argparse.Namespace) -> int:
    with c.connect(args) as conn:
        pages = _pages(conn, args)
        shown = 0
        for frame in pages:
            if args.json:
                c.print_rows(frame)
            else:
                c.print_frame(_for_people(frame))
            shown += frame.height
            if args.limit and shown >= args.limit:
                break
            if (sys.stdin.isatty() and sys.stdout.isatty()
                    and input("next page? [Enter: yes, q: quit] ").strip().lower()[:1] == "q"):
                break
    if not shown and not args.json:
        print("no events match", file=sys.stderr)
    return 0


def export(args: argparse.Namespace) -> int:
    from eventkit.export import FORMATS, write

    kind = args.format or FORMATS.get("." + args.out.rsplit(".", 1)[-1].lower())
    with c.connect(args) as conn:
        events = conn.read(args.stream, subjects=args.subjects, start=c.start_of(args),
                           end=c.position(args.end), progress=not c.no_progress(args))
        frame = _select(events, args)
    path = write(frame, args.out, format=kind)
    what = f"{frame.height:,} events" + (f" of type {args.types[0]}" if _typed(args) else "")
    print(f"wrote {what} to {path} ({kind or path.suffix[1:]}, {path.stat().st_size:,} bytes)")
    return 0


# -- selecting ------------------------------------------------------------------------
def _typed(args: argparse.Namespace) -> bool:
    return bool(args.types) and len(args.types) == 1


def _select(events: Events, args: argparse.Namespace) -> pl.DataFrame:
    """The events asked for: one type's typed table, or the envelope with every payload field."""
    import polars as pl

    from eventkit.where import filter_frame

    frame = events.of_type(args.types[0]) if _typed(args) and args.types[0] in events.types \
        else events.wide()
    if args.types and not _typed(args):
        frame = frame.filter(pl.col("type").is_in(args.types))
    elif args.types and args.types[0] not in events.types:
        frame = frame.clear()
    if args.keys:
        frame = frame.filter(pl.col("key").is_in(args.keys))
    if args.where:
        frame = filter_frame(frame, args.where)
    if _typed(args) and "data" not in frame.columns:
        frame = frame.join(events.to_polars().select("seq", "data"), on="seq", how="left")
    return frame


def _pages(conn: Connection, args: argparse.Namespace) -> Any:
    """Pages of matching events in sequence order, read a window of sequences at a time."""
    start, end = c.start_of(args), c.position(args.end)
    page = args.limit or 25
    if start is not None and not isinstance(start, int):  # a time: read that range whole
        events = conn.read(args.stream, subjects=args.subjects, start=start, end=end,
                           progress=not c.no_progress(args))
        frame = _select(events, args)
        for lo in range(0, frame.height, page):
            yield frame.slice(lo, page)
        return
    info = conn.stream(args.stream)
    lo = max(start or info.first_seq, info.first_seq, 1)
    hi = min(end if isinstance(end, int) else info.last_seq, info.last_seq)
    window = max(page * 8, 2_000)
    waiting: list[pl.DataFrame] = []
    have = 0
    while lo <= hi:
        upto = min(lo + window - 1, hi)
        events = conn.read(args.stream, subjects=args.subjects, start=lo, end=upto,
                           progress=False)
        found = _select(events, args)
        if found.height:
            waiting.append(found)
            have += found.height
        while have >= page:
            import polars as pl

            stacked = pl.concat(waiting, how="diagonal_relaxed")
            yield stacked.head(page)
            rest = stacked.slice(page)
            waiting, have = ([rest] if rest.height else []), rest.height
        lo = upto + 1
        window = min(window * 2, 200_000)  # sparse matches: look further each time
    if waiting:
        import polars as pl

        yield pl.concat(waiting, how="diagonal_relaxed")


def _for_people(frame: pl.DataFrame) -> pl.DataFrame:
    """The columns a person reads first; the payload as text, cut to fit."""
    import polars as pl

    from eventkit.export import to_text

    head = [n for n in ("seq", "time", "subject", "type", "key") if n in frame.columns]
    rest = [n for n in frame.columns if n not in head and n not in ("headers", "error")
            and frame.schema[n] != pl.Binary]
    shown = frame.select(*head, *rest[:8])
    if "data" in frame.columns and len(rest) == 0:
        shown = shown.with_columns(to_text(frame.select("data"))["data"].str.slice(0, 80))
    return shown


def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    c.command(sub, "streams", streams, connection=True, json="JSON for scripts",
              help="list the streams: counts, first/last seq and time",
              description="List the streams of the server, with their subjects, message "
                          "counts and first/last sequence and time.",
              example="eventkit streams --server nats://127.0.0.1:4222")
    c.command(sub, "info", info, stream=True, connection=True, json="JSON for scripts",
              help="a stream's configuration, limits, state and consumers",
              description="A stream's configuration, limits, storage, placement, state, and "
                          "its consumers with their lag.",
              example="eventkit info RIDES --json")
    p = c.command(sub, "view", view, stream=True, connection=True, selection=True,
                  json="JSON lines for scripts",
                  help="events as a table or JSON lines, page by page",
                  description="Events of a stream in sequence order, as a table (a page at a "
                              "time on a terminal) or as JSON lines.",
                  example='eventkit view RIDES --type trip_completed --where "fare > 50" '
                          "--limit 10")
    p.add_argument("--limit", type=int, default=25,
                   help="events shown (a page on a terminal; 0: all)")
    p = c.command(sub, "export", export, stream=True, connection=True, selection=True,
                  help="write events to Parquet, CSV or JSON lines",
                  description="Write the events of a stream (or one type's typed table with "
                              "--type) to a file. CSV and JSON lines hold the payload as UTF-8 "
                              "text, or base64 where it is not text.",
                  example="eventkit export RIDES --type trip_completed --since 24h "
                          "--out fares.parquet")
    p.add_argument("--format", choices=["parquet", "csv", "jsonl"],
                   help="the file format (by default from the --out suffix)")
    p.add_argument("--out", required=True, help="the file to write")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
