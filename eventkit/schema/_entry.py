"""One registered schema version, whatever its format, and the parsed forms decoders use.

Pure: no I/O but reading the files a caller names (``descriptors=``, ``.proto``).

A version of an event type is a :class:`SchemaEntry`: its ``format``
(``"json"``, ``"avro"`` or ``"protobuf"``), its text, a global integer
``id`` (as Confluent's schema registry gives: unique in the registry, the
number a Confluent-framed message carries after its magic byte) and, for
Protobuf, the compiled descriptors and the message's full name. Decoders
(the codec) turn an entry into what their library wants with
:func:`avro_schema` and :func:`protobuf_message`, both cached, so a read
parses each schema once.

What a backend stores per version (a JSON object; see
:mod:`eventkit.schema._backends`): a JSON Schema version is the JSON Schema
document itself, as before formats came; an Avro or Protobuf version is an
envelope ``{"$eventkit": "schema/1", "format": ..., "schema": text,
"message": ..., "descriptors": base64}``. Ids are kept apart, one write-once
record per id naming its type and version, so the JSON Schema files stay
plain JSON Schema.
"""

from __future__ import annotations

import base64
import functools
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import orjson

from eventkit._deps import missing
from eventkit._typing import SchemaFormat
from eventkit.exceptions import ConfigurationError, EventkitError, MissingDependencyError

if TYPE_CHECKING:
    from google.protobuf.message import Message

__all__ = ["FORMATS", "SchemaEntry", "avro_schema", "protobuf_message"]

#: The payload formats a registry holds schemas for.
FORMATS = ("json", "avro", "protobuf")

#: What ``descriptors=`` takes: a serialized FileDescriptorSet, its file's path, or
#: ``.proto`` paths (compiled with grpcio-tools' protoc).
Descriptors: TypeAlias = "bytes | str | os.PathLike[str] | Sequence[str | os.PathLike[str]]"

#: The marker of a stored record that is an envelope, not a bare JSON Schema document.
ENVELOPE = "schema/1"


@dataclass(frozen=True, slots=True)
class SchemaEntry:
    """One registered version of an event type's schema (frozen).

    Attributes
    ----------
    event_type, version
        Which type and which of its versions (1, 2, ...).
    format
        ``"json"`` (JSON Schema), ``"avro"`` or ``"protobuf"``.
    text
        The schema as registered: the JSON Schema document or the Avro
        schema (``.avsc``) as JSON text; for Protobuf, the message reference
        as given (``"rides.proto:LocationUpdated"`` or a full name).
    id
        The global schema id (unique in the registry, kept across reopen),
        or None for a version registered before ids existed (register the
        same schema again to give it one).
    descriptors
        Protobuf only: the serialized ``FileDescriptorSet`` holding the
        message and every file it imports.
    message
        Protobuf only: the message's full name (``"rides.LocationUpdated"``).

    Examples
    --------
    >>> entry = SchemaEntry("trip_completed", 1, "avro",
    ...     '{"type": "record", "name": "Trip", "fields": [{"name": "fare", "type": "double"}]}',
    ...     id=1)
    >>> avro_schema(entry)["fields"][0]["type"]
    'double'
    """

    event_type: str
    version: int
    format: SchemaFormat
    text: str
    id: int | None = None
    descriptors: bytes | None = None
    message: str | None = None

    def __repr__(self) -> str:
        size = f", descriptors=<{len(self.descriptors)} bytes>" if self.descriptors else ""
        message = f", message={self.message!r}" if self.message else ""
        return (f"SchemaEntry({self.event_type!r}, version={self.version}, "
                f"format={self.format!r}, id={self.id}{message}{size})")

    def document(self) -> Any:
        """The schema as plain JSON: the JSON Schema or Avro document; for Protobuf the
        message's ``DescriptorProto`` as a dict (its fields, numbers and types)."""
        if self.format != "protobuf":
            return orjson.loads(self.text)
        from google.protobuf import descriptor_pb2, json_format

        proto = descriptor_pb2.DescriptorProto()
        protobuf_message(self).DESCRIPTOR.CopyToProto(proto)
        return {"message": self.message,
                **json_format.MessageToDict(proto, preserving_proto_field_name=True)}


def new_entry(event_type: str, schema: Any, format: str,
              descriptors: Descriptors | None) -> SchemaEntry:
    """A registration's schema checked and made an entry (version 0, no id yet)."""
    what = f"the {format} schema for {event_type}"
    if format == "json":
        from eventkit.schema._json_parse import parse_schema

        document = _json_document(schema)
        parse_schema(document, what=f"schema for {event_type}")
        return SchemaEntry(event_type, 0, "json", orjson.dumps(document).decode())
    if descriptors is not None and format != "protobuf":
        raise ConfigurationError(f"{what}: descriptors= is for Protobuf schemas only")
    if format == "avro":
        return SchemaEntry(event_type, 0, "avro", avro_text(schema, what))
    if format == "protobuf":
        raw, message = protobuf_parts(schema, descriptors, what)
        return SchemaEntry(event_type, 0, "protobuf", schema.strip(), None, raw, message)
    raise ConfigurationError(f"format must be one of {', '.join(map(repr, FORMATS))}, "
                             f"got {format!r}")


def _json_document(schema: Any) -> dict[str, Any]:
    """A JSON Schema as plain JSON (our own copy), from a mapping or JSON text."""
    try:
        if isinstance(schema, str | bytes):
            document = orjson.loads(schema)
        else:
            document = orjson.loads(orjson.dumps(dict(schema)))
    except (orjson.JSONDecodeError, orjson.JSONEncodeError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"a schema is a JSON object: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigurationError(f"a schema is a JSON object, got {type(document).__name__}")
    return document


def to_record(entry: SchemaEntry) -> dict[str, Any]:
    """What a backend stores for ``entry`` (see the module docstring)."""
    if entry.format == "json":
        document = orjson.loads(entry.text)
        if not isinstance(document, dict):  # pragma: no cover - register refuses it
            raise ConfigurationError("a JSON Schema is a JSON object")
        return document
    record: dict[str, Any] = {"$eventkit": ENVELOPE, "format": entry.format,
                              "schema": entry.text}
    if entry.format == "protobuf":
        record["message"] = entry.message
        record["descriptors"] = base64.b64encode(entry.descriptors or b"").decode()
    return record


def from_record(event_type: str, version: int, record: Mapping[str, Any],
                schema_id: int | None, where: str) -> SchemaEntry:
    """A stored record read back (a bare document is a JSON Schema)."""
    if "$eventkit" not in record:
        return SchemaEntry(event_type, version, "json", orjson.dumps(record).decode(),
                           schema_id)
    fmt = record.get("format")
    text = record.get("schema")
    if record.get("$eventkit") != ENVELOPE or fmt not in FORMATS or not isinstance(text, str):
        raise EventkitError(f"the schema registry entry {where} is not one eventkit reads "
                            f"(format {fmt!r}): it was written by a newer eventkit or changed "
                            "outside eventkit")
    descriptors = record.get("descriptors")
    message = record.get("message")
    if fmt == "protobuf" and not (isinstance(descriptors, str) and isinstance(message, str)):
        raise EventkitError(f"the schema registry entry {where} lacks its Protobuf descriptors: "
                            "it was changed outside eventkit; restore it or delete it")
    return SchemaEntry(event_type, version, fmt, text, schema_id,
                       base64.b64decode(descriptors) if isinstance(descriptors, str) else None,
                       message if isinstance(message, str) else None)


def field_names(entry: SchemaEntry) -> tuple[list[str], list[str]]:
    """An Avro or Protobuf entry's top-level fields, and those a writer must write."""
    if entry.format == "protobuf":
        fields = protobuf_message(entry).DESCRIPTOR.fields
        return ([f.name for f in fields],
                sorted(f.name for f in fields if getattr(f, "is_required", False)
                       or getattr(f, "label", None) == 2))  # LABEL_REQUIRED before protobuf 6
    document = orjson.loads(entry.text)
    if not isinstance(document, dict) or not isinstance(document.get("fields"), list):
        return [], []
    fields = [f for f in document["fields"] if isinstance(f, dict)]
    return ([str(f.get("name")) for f in fields],
            sorted(str(f.get("name")) for f in fields if "default" not in f))


# -- Avro ------------------------------------------------------------------------
def avro_text(schema: Mapping[str, Any] | str | bytes | Sequence[Any], what: str) -> str:
    """An Avro schema as JSON text, checked by fastavro (ConfigurationError if it is not one)."""
    if isinstance(schema, bytes):
        schema = schema.decode()
    if isinstance(schema, str):
        try:
            document = orjson.loads(schema)
        except orjson.JSONDecodeError:
            if schema.strip().startswith(("{", "[", '"')):
                raise ConfigurationError(f"{what} is not JSON (an .avsc is JSON)") from None
            document = schema  # a primitive type's name, as "string"
        text = schema if not isinstance(document, str) else orjson.dumps(document).decode()
    else:
        try:
            document = orjson.loads(orjson.dumps(schema))
        except (orjson.JSONEncodeError, TypeError) as exc:
            raise ConfigurationError(f"{what} is not JSON: {exc}") from None
        text = orjson.dumps(document).decode()
    _parse_avro(text, what)
    return text


def _parse_avro(text: str, what: str) -> Any:
    fastavro = _fastavro()
    try:
        return fastavro.parse_schema(orjson.loads(text), named_schemas={})
    except Exception as exc:  # fastavro raises several kinds (SchemaParseException, ...)
        raise ConfigurationError(f"{what} is not an Avro schema fastavro accepts: "
                                 f"{type(exc).__name__}: {exc}") from None


def _fastavro() -> Any:
    try:
        import fastavro
    except ImportError as exc:
        raise missing("fastavro", "an Avro schema") from exc
    return fastavro


def _protobuf() -> None:
    try:
        import google.protobuf  # noqa: F401
    except ImportError as exc:
        raise missing("protobuf", "a Protobuf schema") from exc


@functools.lru_cache(maxsize=512)
def avro_schema(entry: SchemaEntry) -> Any:
    """The entry's Avro schema as ``fastavro.parse_schema`` gives it (cached per entry).

    What ``fastavro.schemaless_reader(buffer, avro_schema(entry), reader_schema)``
    takes as the writer schema.
    """
    if entry.format != "avro":
        raise ConfigurationError(f"{entry.event_type} version {entry.version} is "
                                 f"{entry.format}, not Avro")
    return _parse_avro(entry.text, f"{entry.event_type} version {entry.version}")


# -- Protobuf ----------------------------------------------------------------------
def protobuf_parts(reference: str, descriptors: bytes | str | os.PathLike[str]
                   | Sequence[str | os.PathLike[str]] | None, what: str) -> tuple[bytes, str]:
    """The serialized FileDescriptorSet and the message's full name for a registration."""
    if not isinstance(reference, str) or not reference.strip():
        raise ConfigurationError(f"{what}: a Protobuf schema is \"file.proto:MessageName\" or a "
                                 f"message's full name, got {reference!r}")
    file, _, name = reference.strip().rpartition(":")
    if descriptors is None:
        if not file:
            raise ConfigurationError(
                f"{what}: a Protobuf schema needs descriptors=: a FileDescriptorSet (bytes, or "
                "the path of what `protoc --include_imports -o rides.desc rides.proto` wrote), "
                "or .proto files; or name the file as \"rides.proto:LocationUpdated\"")
        descriptors = file
    _protobuf()
    raw = _descriptor_set(descriptors, what)
    return raw, _full_name(raw, file, name.lstrip("."), what)


def _descriptor_set(descriptors: bytes | str | os.PathLike[str]
                    | Sequence[str | os.PathLike[str]], what: str) -> bytes:
    from google.protobuf import descriptor_pb2
    from google.protobuf.message import DecodeError

    if isinstance(descriptors, bytes | bytearray | memoryview):
        raw = bytes(descriptors)
    else:
        paths = ([descriptors] if isinstance(descriptors, str | os.PathLike)
                 else list(descriptors))
        protos = [Path(p) for p in paths if str(p).endswith(".proto")]
        if protos:
            raw = compile_protos(protos, what)
        elif len(paths) == 1:
            try:
                raw = Path(paths[0]).read_bytes()
            except OSError as exc:
                raise ConfigurationError(f"{what}: cannot read descriptors {paths[0]!s}: "
                                         f"{exc.strerror}") from None
        else:
            raise ConfigurationError(f"{what}: descriptors= is one FileDescriptorSet file or "
                                     f".proto files, got {paths!r}")
    fds = descriptor_pb2.FileDescriptorSet()
    try:
        fds.ParseFromString(raw)
    except DecodeError:
        fds.Clear()
    if not fds.file:
        raise ConfigurationError(
            f"{what}: descriptors= holds no FileDescriptorSet: make one with `protoc "
            "--include_imports -o rides.desc rides.proto` (or pass the .proto files)")
    return raw


def _full_name(raw: bytes, file: str, name: str, what: str) -> str:
    """The full name of message ``name`` (in ``file`` when given) in a descriptor set."""
    from google.protobuf import descriptor_pb2

    fds = descriptor_pb2.FileDescriptorSet.FromString(raw)
    found: list[str] = []
    for proto in fds.file:
        if file and not (proto.name == file or proto.name.endswith("/" + Path(file).name)
                         or Path(proto.name).name == Path(file).name):
            continue
        prefix = f"{proto.package}." if proto.package else ""
        found.extend(full for full in _message_names(proto.message_type, prefix)
                     if full == name or full.endswith("." + name))
    found = sorted(set(found))
    if len(found) != 1:
        where = f" in {file}" if file else ""
        known = sorted(n for p in fds.file for n in _message_names(
            p.message_type, f"{p.package}." if p.package else ""))
        why = "is in several files: give its full name" if found else "is not there"
        raise ConfigurationError(f"{what}: message {name!r}{where} {why} (messages: "
                                 f"{', '.join(known[:20]) or 'none'})")
    # the message must build: every import present (or a well-known type)
    _pool_class(raw, found[0], what)
    return found[0]


def _message_names(messages: Any, prefix: str) -> list[str]:
    out = []
    for m in messages:
        out.append(prefix + m.name)
        out.extend(_message_names(m.nested_type, f"{prefix}{m.name}."))
    return out


def _pool_class(raw: bytes, full_name: str, what: str) -> type[Message]:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fds = descriptor_pb2.FileDescriptorSet.FromString(raw)
    files = {f.name: f for f in fds.file}
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(name: str) -> None:
        if name in added:
            return
        added.add(name)
        proto = files.get(name)
        if proto is None:  # a well-known type protoc left out: the runtime's own copy
            _load_well_known()
            try:
                known = descriptor_pool.Default().FindFileByName(name)
            except KeyError:
                raise ConfigurationError(
                    f"{what}: the descriptors lack {name!r}, which a file imports: make "
                    "them with `protoc --include_imports`") from None
            proto = descriptor_pb2.FileDescriptorProto()
            known.CopyToProto(proto)
        for dep in proto.dependency:
            add(dep)
        pool.Add(proto)

    try:
        for name in files:
            add(name)
        cls: type[Message] = message_factory.GetMessageClass(
            pool.FindMessageTypeByName(full_name))
        return cls
    except ConfigurationError:
        raise
    except Exception as exc:  # the pool refuses inconsistent files (TypeError, KeyError, ...)
        raise ConfigurationError(f"{what}: the descriptors do not build message "
                                 f"{full_name!r}: {exc}") from None


def _load_well_known() -> None:
    """Put the well-known types (Timestamp, Duration, wrappers...) in the default pool."""
    from google.protobuf import (  # noqa: F401
        any_pb2,
        duration_pb2,
        empty_pb2,
        field_mask_pb2,
        struct_pb2,
        timestamp_pb2,
        wrappers_pb2,
    )


@functools.lru_cache(maxsize=512)
def protobuf_message(entry: SchemaEntry) -> type[Message]:
    """The entry's Protobuf message class, built from its descriptors (cached per entry).

    ``protobuf_message(entry).FromString(payload)`` decodes one payload;
    the class's ``DESCRIPTOR`` describes its fields.
    """
    if entry.format != "protobuf" or entry.descriptors is None or entry.message is None:
        raise ConfigurationError(f"{entry.event_type} version {entry.version} is "
                                 f"{entry.format}, not Protobuf")
    _protobuf()
    return _pool_class(entry.descriptors, entry.message,
                       f"{entry.event_type} version {entry.version}")


def compile_protos(protos: Sequence[Path], what: str) -> bytes:
    """``.proto`` files compiled to a FileDescriptorSet by the ``protoc`` of grpcio-tools.

    Each file's folder is an include path, and so are the well-known types
    grpcio-tools ships.
    """
    try:
        from grpc_tools import protoc
    except ImportError as exc:
        raise MissingDependencyError(
            f"{what}: compiling .proto files needs grpcio-tools (its protoc), which is not "
            "installed: pip install 'eventkit[protoc]', or pass descriptors= a "
            "FileDescriptorSet made by `protoc --include_imports -o`") from exc
    import importlib.resources

    missing = [str(p) for p in protos if not p.is_file()]
    if missing:
        raise ConfigurationError(f"{what}: no such .proto file: {', '.join(missing)}")
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    includes = sorted({str(p.resolve().parent) for p in protos})
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.desc"
        args = ["protoc", *(f"-I{d}" for d in includes), f"-I{well_known}",
                "--include_imports", f"--descriptor_set_out={out}",
                *(str(p.resolve()) for p in protos)]
        errors = Path(tmp) / "stderr"
        with open(errors, "w+b") as err:
            fd = os.dup(2)
            try:
                os.dup2(err.fileno(), 2)  # protoc writes its errors to file descriptor 2
                code = protoc.main(args)
            finally:
                os.dup2(fd, 2)
                os.close(fd)
            err.seek(0)
            said = err.read().decode(errors="replace").strip()
        if code != 0 or not out.exists():
            raise ConfigurationError(f"{what}: protoc refused {', '.join(map(str, protos))}: "
                                     f"{said or f'exit code {code}'}")
        return out.read_bytes()
