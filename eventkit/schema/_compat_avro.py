"""Avro compatibility: can a reader schema resolve what a writer schema wrote?

Pure: parsed Avro schemas in, :class:`~eventkit.schema._compat_json.Problem` out.
The answer is the schema resolution of the Avro specification, as Confluent's
schema registry applies it (Avro's ``SchemaCompatibility``); the modes around
it are in :mod:`eventkit.schema._compat_json`. A reader reads a writer when:

=============================== ==================================================
writer -> reader                resolves when
=============================== ==================================================
same primitive                  always
promotion                       int -> long, float, double; long -> float, double;
                                float -> double; string <-> bytes (nothing else)
record -> record                same unqualified name, or the reader's aliases name
                                the writer; every reader field is written (by name
                                or one of the reader field's aliases) and readable,
                                or has a default; writer fields the reader lacks
                                are skipped
enum -> enum                    same name (or alias); every writer symbol is a
                                reader symbol, or the reader enum has a default
fixed -> fixed                  same name (or alias) and size
array / map                     their items / values resolve
union -> anything               every writer branch resolves to the reader
anything -> union               some reader branch resolves the writer
logical types                   resolved as their underlying type
=============================== ==================================================

Named types are followed by reference, and a recursive record is checked once
per pair of names.
"""

from __future__ import annotations

from typing import Any

import orjson

from eventkit.schema._compat_json import Problem
from eventkit.schema._entry import SchemaEntry, _fastavro

__all__ = ["RULES", "parsed", "read_problems"]

#: What each kind of problem is called for a change old -> new: "backward" when the new
#: schema reads old events, "forward" the reverse.
RULES = {
    ("default", "backward"): "adding a field without a default",
    ("default", "forward"): "removing a field without a default",
    ("type", "backward"): "changing a field's type beyond Avro's promotions",
    ("type", "forward"): "changing a field's type beyond Avro's promotions",
    ("union", "backward"): "removing a type from a union",
    ("union", "forward"): "adding a type to a union",
    ("enum", "backward"): "removing enum symbols (the new enum has no default)",
    ("enum", "forward"): "adding enum symbols (the old enum has no default)",
    ("name", "backward"): "renaming a record, enum or fixed without an alias",
    ("name", "forward"): "renaming a record, enum or fixed without an alias",
    ("size", "backward"): "changing a fixed's size",
    ("size", "forward"): "changing a fixed's size",
}

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})

#: Writer type -> the reader types the Avro specification promotes it to.
PROMOTIONS = {"int": {"long", "float", "double"}, "long": {"float", "double"},
              "float": {"double"}, "string": {"bytes"}, "bytes": {"string"}}

#: A parsed schema and its named types (full name -> definition).
Parsed = tuple[Any, dict[str, Any]]


def parsed(entry: SchemaEntry) -> Parsed:
    """An Avro entry parsed by fastavro, with the named types it defines."""
    names: dict[str, Any] = {}
    schema = _fastavro().parse_schema(orjson.loads(entry.text), named_schemas=names)
    return schema, names


def read_problems(reader: Parsed, writer: Parsed) -> list[Problem]:
    """Why data written with ``writer`` may not resolve with ``reader`` (empty: it does).

    Examples
    --------
    >>> import fastavro
    >>> def p(doc): names = {}; return fastavro.parse_schema(doc, named_schemas=names), names
    >>> v1 = p({"type": "record", "name": "T", "fields": [{"name": "a", "type": "int"}]})
    >>> v2 = p({"type": "record", "name": "T", "fields": [{"name": "a", "type": "long"},
    ...                                                    {"name": "b", "type": "string"}]})
    >>> [(x.path, x.kind) for x in read_problems(v2, v1)]
    [('b', 'default')]
    >>> [(x.path, x.kind) for x in read_problems(v1, v2)]
    [('a', 'type')]
    """
    out: list[Problem] = []
    _read(reader[0], writer[0], _Names(reader[1], writer[1]), "", out, frozenset())
    return out


class _Names:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: dict[str, Any], writer: dict[str, Any]) -> None:
        self.reader, self.writer = reader, writer


def _resolve(schema: Any, names: dict[str, Any]) -> Any:
    """A reference followed, and a primitive with a logical type as the primitive."""
    if isinstance(schema, str) and schema not in PRIMITIVES:
        return names.get(schema, schema)
    if isinstance(schema, dict) and schema.get("type") in PRIMITIVES:
        return schema["type"]
    return schema


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, dict):
        kind = str(schema.get("type"))
        return "record" if kind == "error" else kind
    return str(schema)


def _shown(schema: Any) -> str:
    kind = _kind(schema)
    if kind in ("record", "enum", "fixed"):
        return f"{kind} {_short(schema['name'])}"
    if kind == "union":
        return "union [" + ", ".join(_shown(b) if not isinstance(b, str) else _short(b)
                                     for b in schema) + "]"
    if kind in ("array", "map"):
        return kind
    return kind


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _same_name(reader: dict[str, Any], writer: dict[str, Any]) -> bool:
    if _short(reader["name"]) == _short(writer["name"]):
        return True
    aliases = reader.get("aliases") or ()
    return writer["name"] in aliases or _short(writer["name"]) in {_short(a) for a in aliases}


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _read(reader: Any, writer: Any, names: _Names, path: str, out: list[Problem],
          seen: frozenset[tuple[str, str]]) -> None:
    reader, writer = _resolve(reader, names.reader), _resolve(writer, names.writer)
    rk, wk = _kind(reader), _kind(writer)
    if wk == "union":
        for branch in writer:
            trial: list[Problem] = []
            _read(reader, branch, names, path, trial, seen)
            shown = _shown(_resolve(branch, names.writer))
            out.extend(Problem(path, "union", f"{{writer}} may write {shown} (a type of its "
                               f"union), which {{reader}}'s {_shown(reader)} does not read")
                       if p.path == path and p.kind == "type" else p for p in trial)
        return
    if rk == "union":
        for branch in reader:
            tried: list[Problem] = []
            _read(branch, writer, names, path, tried, seen)
            if not tried:
                return
        out.append(Problem(path, "union", f"{{reader}} has {_shown(reader)}, without a "
                           f"type that reads {{writer}}'s {_shown(writer)}"))
        return
    if rk != wk:
        if rk not in PROMOTIONS.get(wk, ()):
            out.append(Problem(path, "type", f"{{reader}} reads {_shown(reader)} where "
                               f"{{writer}} writes {_shown(writer)}; Avro promotes only "
                               "int->long->float->double and string<->bytes"))
        return
    if rk in PRIMITIVES:
        return
    if rk in ("record", "enum", "fixed") and not _same_name(reader, writer):
        out.append(Problem(path, "name", f"{{reader}} has {_shown(reader)} where {{writer}} "
                           f"has {_shown(writer)}, and no alias names it"))
        return
    if rk == "record":
        pair = (reader["name"], writer["name"])
        if pair not in seen:
            _record(reader, writer, names, path, out, seen | {pair})
    elif rk == "enum":
        lacking = [s for s in writer["symbols"] if s not in reader["symbols"]]
        if lacking and "default" not in reader:
            out.append(Problem(path, "enum", f"{{writer}} may write {', '.join(lacking)}, "
                               f"which {{reader}}'s enum {_short(reader['name'])} lacks, and "
                               "it has no default symbol"))
    elif rk == "fixed":
        if reader["size"] != writer["size"]:
            out.append(Problem(path, "size", f"{{reader}} reads {reader['size']} bytes where "
                               f"{{writer}} writes {writer['size']}"))
    elif rk == "array":
        _read(reader["items"], writer["items"], names, path + "[]", out, seen)
    elif rk == "map":
        _read(reader["values"], writer["values"], names, path + "{}", out, seen)


def _record(reader: dict[str, Any], writer: dict[str, Any], names: _Names, path: str,
            out: list[Problem], seen: frozenset[tuple[str, str]]) -> None:
    written = {f["name"]: f for f in writer["fields"]}
    for field in reader["fields"]:
        where = _join(path, field["name"])
        source = written.get(field["name"]) or next(
            (written[a] for a in field.get("aliases") or () if a in written), None)
        if source is None:
            if "default" not in field:
                out.append(Problem(where, "default", "{reader} has no default for it and "
                                   "{writer} does not write it"))
            continue
        _read(field["type"], source["type"], names, where, out, seen)
