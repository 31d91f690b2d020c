"""``eventkit schema infer | register | check | list``: a schema registry from the shell."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eventkit.cli import _common as c
from eventkit.exceptions import ConfigurationError, SchemaCompatibilityError


def _registry(args: argparse.Namespace, conn: object | None):  # type: ignore[no-untyped-def]
    import eventkit as ek

    if args.dir:
        if args.schema_command != "register" and not Path(args.dir).is_dir():
            raise ConfigurationError(
                f"no schema directory {args.dir}: give the folder that holds <type>/v<N>.json "
                "(eventkit schema infer --out DIR writes one)"
            )
        return ek.SchemaRegistry.from_dir(args.dir)
    return ek.SchemaRegistry(conn, bucket=args.bucket)  # type: ignore[arg-type]


def _schema_files(folder: Path) -> list[tuple[str, int, Path]]:
    """``(type, version, file)`` of a directory laid out as ``<type>/v<N>.json`` (JSON
    Schema) or ``<type>/v<N>.avsc`` (Avro)."""
    from eventkit.schema._backends import _unescape

    found = []
    for path in sorted([*folder.glob("*/v*.json"), *folder.glob("*/v*.avsc")]):
        number = path.stem[1:]
        if number.isdigit():
            found.append((_unescape(path.parent.name, "%"), int(number), path))
    return sorted(found, key=lambda f: (f[0], f[1]))


def _format_of(args: argparse.Namespace, schema: str) -> str:
    """``--format``, or what the schema argument says: ``.avsc`` is Avro, ``x.proto:Message``
    or ``--descriptors`` Protobuf, anything else JSON Schema."""
    if args.format:
        return str(args.format)
    if schema.endswith(".avsc"):
        return "avro"
    if ".proto:" in schema or args.descriptors:
        return "protobuf"
    return "json"


def _schema_text(fmt: str, schema: str) -> str:
    """What ``register`` takes: a file's text, or (Protobuf) the message reference itself."""
    if fmt == "protobuf":
        return schema
    path = Path(schema)
    if not path.is_file():
        raise ConfigurationError(f"no such schema file {schema}: give the path of a "
                                 f"{'.avsc' if fmt == 'avro' else 'JSON Schema'} file")
    return path.read_text()


def _schema_infer(args: argparse.Namespace) -> int:
    import orjson

    from eventkit.schema import SchemaRegistry
    from eventkit.schema._backends import _escape

    with c.connect(args) as conn:
        events = conn.read(args.stream, subjects=args.subjects, start=args.start,
                           end=args.end, progress=not c.no_progress(args))
    proposed = SchemaRegistry().infer(events, by_version=True, limit=args.limit)
    if not args.out:
        text = {t: {str(v): s for v, s in vs.items()} for t, vs in proposed.items()}
        print(orjson.dumps(text, option=orjson.OPT_INDENT_2).decode())
        return 0
    out = Path(args.out)
    for event_type, versions in proposed.items():
        broken = _history_breaks(event_type, versions)
        if broken:  # the stream already holds both shapes: the registry must say so
            config = out / _escape(event_type, "%") / "config.json"
            config.parent.mkdir(parents=True, exist_ok=True)
            config.write_bytes(orjson.dumps({"compatibility": "NONE"}) + b"\n")
            print(f"{event_type}: the history changed it incompatibly ({broken}); wrote "
                  f"{config} (compatibility NONE): add an upcaster so old events read in the "
                  "new shape (see the README)")
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


def _history_breaks(event_type: str, versions: dict[int, dict[str, object]]) -> str | None:
    """Why the versions seen in a history are not BACKWARD compatible, or None if they are."""
    from eventkit.exceptions import SchemaCompatibilityError
    from eventkit.schema import SchemaRegistry

    scratch = SchemaRegistry()
    for version, schema in sorted(versions.items()):
        try:
            scratch.register(event_type, schema)
        except SchemaCompatibilityError as exc:
            return f"v{version} against the versions before it: {len(exc.problems)} problems"
    return None


def _type_mode(folder: Path, event_type: str) -> str | None:
    """The compatibility a schema directory asks for a type (``<type>/config.json``)."""
    import orjson

    from eventkit.schema._backends import _escape

    config = folder / _escape(event_type, "%") / "config.json"
    if not config.is_file():
        return None
    mode = orjson.loads(config.read_bytes()).get("compatibility")
    return str(mode).upper() if mode else None


def _schema_register(args: argparse.Namespace) -> int:
    if args.source:
        todo = _schema_files(Path(args.source))
        if not todo:
            print(f"eventkit schema register: no <type>/v<N>.json files in {args.source}",
                  file=sys.stderr)
            return 2
    elif args.type and args.file:
        todo = [(args.type, 0, Path(args.file))]
        if args.descriptors and _format_of(args, args.file) != "protobuf":
            raise ConfigurationError("--descriptors is for --format protobuf")
    else:
        print("eventkit schema register: give TYPE FILE, or --from DIR", file=sys.stderr)
        return 2
    conn = None if args.dir else c.connect(args)
    try:
        reg = _registry(args, conn)
        for event_type, _, path in todo:
            mode = args.compatibility or (_type_mode(Path(args.source), event_type)
                                          if args.source else None)
            fmt = _format_of(args, str(path))
            try:
                version = reg.register(event_type, _schema_text(fmt, str(path)), format=fmt,
                                       descriptors=args.descriptors, compatibility=mode,
                                       policy=args.policy)
            except SchemaCompatibilityError as exc:
                raise SchemaCompatibilityError(
                    f"{path} is not {reg.compatibility(event_type)} compatible with the "
                    f"registered versions of {event_type}: "
                    + "; ".join(map(str, exc.problems))
                    + f". Change the schema, or register it anyway with: eventkit schema "
                    f"register {event_type} {path}{_format_args(args, fmt)} --compatibility "
                    f"NONE{_where(args)} (then add an upcaster in Python, reg.upcaster, so "
                    "old events read in the new shape)", exc.problems) from None
            entry = reg.entry(event_type, version)
            print(f"{event_type}: version {version}  ({path}; {fmt}, schema id {entry.id}; "
                  f"{reg.compatibility(event_type)})")
    finally:
        if conn is not None:
            conn.close()
    return 0


def _format_args(args: argparse.Namespace, fmt: str) -> str:
    """The format options of this command, to repeat in advice."""
    out = f" --format {fmt}" if args.format else ""
    return out + (f" --descriptors {args.descriptors}" if args.descriptors else "")


def _where(args: argparse.Namespace) -> str:
    """The registry options of this command, to repeat in advice."""
    if args.dir:
        return f" --dir {args.dir}"
    return f" --bucket {args.bucket}" if args.bucket != "eventkit_schemas" else ""


def _schema_check(args: argparse.Namespace) -> int:
    import polars as pl

    with c.connect(args) as conn:
        reg = _registry(args, conn)
        events = conn.read(args.stream, subjects=args.subjects, start=args.start,
                           end=args.end, progress=not c.no_progress(args))
        registered = set(reg.types)
        if not registered:
            where = args.dir or f"bucket {args.bucket}"
            raise ConfigurationError(
                f"no schemas are registered in {where}: nothing to check against "
                "(eventkit schema register --from DIR adds them)"
            )
        found = reg.check(events)
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

    conn = None if args.dir else c.connect(args)
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


def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    schema = sub.add_parser("schema", help="a schema registry: infer, register, check, list",
                            epilog="example: eventkit schema infer --stream RIDES --out s/ && "
                                   "eventkit schema register --from s/")
    commands = schema.add_subparsers(dest="schema_command", required=True)

    def common(p: argparse.ArgumentParser, *, registry: bool, stream: bool) -> None:
        c.add_connection(p)
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
                                              "version from a stream's events",
                                epilog="example: eventkit schema infer --stream RIDES "
                                       "--out schemas/")
    common(infer, registry=False, stream=True)
    infer.add_argument("--out", help="write <out>/<type>/v<N>.json (else print JSON)")
    infer.add_argument("--limit", type=int, help="events looked at per type and version")
    infer.set_defaults(run=_schema_infer)
    register = commands.add_parser("register", help="register schemas, checked against the "
                                                     "earlier versions",
                                   epilog="examples: eventkit schema register --from schemas/ "
                                          "| eventkit schema register trip_completed v3.json "
                                          "--compatibility FULL --dir schemas/ | eventkit "
                                          "schema register trip_completed trip.avsc | "
                                          "eventkit schema register location_updated "
                                          "rides.proto:LocationUpdated --descriptors "
                                          "rides.desc")
    common(register, registry=True, stream=False)
    register.add_argument("type", nargs="?", help="event type")
    register.add_argument("file", nargs="?", help="the schema: a JSON Schema file, an Avro "
                                                  ".avsc file, or for Protobuf "
                                                  "FILE.proto:Message or a message's full name")
    register.add_argument("--format", choices=["json", "avro", "protobuf"],
                          help="the schema's format (default: .avsc is avro, "
                               "x.proto:Message or --descriptors protobuf, else json)")
    register.add_argument("--descriptors",
                          help="protobuf: a FileDescriptorSet (protoc --include_imports -o "
                               "rides.desc rides.proto) or a .proto file, compiled with the "
                               "protoc of grpcio-tools (pip install 'eventkit[protoc]')")
    register.add_argument("--from", dest="source",
                          help="register every <type>/v<N>.json (JSON Schema) and "
                               "<type>/v<N>.avsc (Avro) of a directory, in order")
    register.add_argument("--compatibility", type=str.upper, choices=[
        "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL",
        "FULL_TRANSITIVE", "NONE"], help="set the type's mode (BACKWARD unless set before)")
    register.add_argument("--policy", choices=["strict", "lenient"], default="strict",
                          help="strict (Confluent's default): an open object may hold any "
                               "undeclared field; lenient: writers write only declared fields")
    register.set_defaults(run=_schema_register)
    check = commands.add_parser("check", help="validate a stream's events against the "
                                              "registered schemas (exit 1 on violations)",
                                epilog="example: eventkit schema check --stream RIDES "
                                       "--out violations.parquet")
    common(check, registry=True, stream=True)
    check.add_argument("--out", help="write every violation to this Parquet file")
    check.add_argument("--rows", type=int, default=20, help="summary rows shown")
    check.set_defaults(run=_schema_check)
    listing = commands.add_parser("list", help="the registered types, versions and modes",
                                  epilog="example: eventkit schema list --dir schemas/")
    common(listing, registry=True, stream=False)
    listing.set_defaults(run=_schema_list)


