"""Where a registry keeps its schemas: the backend protocol, memory and a directory.

A backend stores, per event type, numbered version records (JSON objects,
written once: see :mod:`eventkit.schema._entry` for what they hold), the
type's compatibility mode, and one write-once record per global schema id
naming the type and version it belongs to. In a directory::

    <root>/<type>/v<N>.json      version N (a JSON Schema document, or an envelope)
    <root>/<type>/config.json    {"compatibility": ...}
    <root>/%ids/<id>.json        {"type": ..., "version": N}

(characters of a type other than letters, digits, ``-`` and ``_`` are
written ``%XX``, so no type's folder is ``%ids``).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

import orjson

from eventkit.exceptions import (
    ConfigurationError,
    EventkitError,
    SchemaConflictError,
)

#: The folder (directory backend) and key token (key-value backend) of the id records:
#: no escaped type name can be either (``%`` and ``=`` always start a hex escape there).
IDS_DIR = "%ids"
IDS_TOKEN = "=ids"


# -- backends --------------------------------------------------------------------
class SchemaBackend(Protocol):
    """Where a registry keeps its schemas. Versions are written once and never change."""

    @property
    def name(self) -> str:
        """Where, for messages (never with credentials)."""
        ...

    async def listing(self) -> dict[str, list[int]]:
        """Every event type and its versions, in ascending order."""
        ...

    async def versions(self, event_type: str) -> list[int]:
        ...

    async def schema(self, event_type: str, version: int) -> dict[str, Any] | None:
        ...

    async def create(self, event_type: str, version: int, document: dict[str, Any]) -> None:
        """Store a new version; :class:`SchemaConflictError` if it exists already."""
        ...

    async def compatibility(self, event_type: str) -> str | None:
        ...

    async def set_compatibility(self, event_type: str, mode: str) -> None:
        ...

    async def schema_ids(self) -> dict[int, tuple[str, int]]:
        """Every global schema id and the type and version it names.

        Optional: a backend without ``schema_ids`` and ``claim_id`` gives
        its versions no ids (``SchemaEntry.id`` is None).
        """
        ...

    async def claim_id(self, schema_id: int, event_type: str, version: int) -> None:
        """Record ``schema_id`` for a version; :class:`SchemaConflictError` if it is taken."""
        ...


class _MemoryBackend:
    """Schemas in a dict: for notebooks and tests."""

    def __init__(self) -> None:
        self._docs: dict[str, dict[int, bytes]] = {}
        self._modes: dict[str, str] = {}
        self._ids: dict[int, tuple[str, int]] = {}

    @property
    def name(self) -> str:
        return "an in-memory registry"

    async def listing(self) -> dict[str, list[int]]:
        return {t: sorted(v) for t, v in self._docs.items() if v}

    async def versions(self, event_type: str) -> list[int]:
        return sorted(self._docs.get(event_type, {}))

    async def schema(self, event_type: str, version: int) -> dict[str, Any] | None:
        raw = self._docs.get(event_type, {}).get(version)
        return None if raw is None else _json_object(raw, f"{event_type} v{version}")

    async def create(self, event_type: str, version: int, document: dict[str, Any]) -> None:
        versions = self._docs.setdefault(event_type, {})
        if version in versions:
            raise SchemaConflictError(f"{event_type} version {version} exists already")
        versions[version] = orjson.dumps(document)

    async def compatibility(self, event_type: str) -> str | None:
        return self._modes.get(event_type)

    async def set_compatibility(self, event_type: str, mode: str) -> None:
        self._modes[event_type] = mode

    async def schema_ids(self) -> dict[int, tuple[str, int]]:
        return dict(self._ids)

    async def claim_id(self, schema_id: int, event_type: str, version: int) -> None:
        if schema_id in self._ids:
            raise SchemaConflictError(f"schema id {schema_id} is taken")
        self._ids[schema_id] = (event_type, version)


def _escape(name: str, mark: str) -> str:
    """``name`` with characters other than letters, digits, ``-`` and ``_`` as ``<mark>XX``."""
    return "".join(
        c if (c.isascii() and (c.isalnum() or c in "-_")) else
        "".join(f"{mark}{b:02X}" for b in c.encode()) for c in name)


def _unescape(token: str, mark: str) -> str:
    return re.sub(f"(?:{re.escape(mark)}[0-9A-F]{{2}})+",
                  lambda m: bytes.fromhex(m.group(0).replace(mark, "")).decode(), token)


_VERSION_FILE = re.compile(r"^v([1-9][0-9]*)\.json$")


class _DirBackend:
    """``<root>/<type>/v<N>.json`` and ``<root>/<type>/config.json``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def name(self) -> str:
        return f"schema directory {str(self.root)!r}"

    def _dir(self, event_type: str) -> Path:
        return self.root / _escape(event_type, "%")

    async def listing(self) -> dict[str, list[int]]:
        if not self.root.is_dir():
            return {}
        out: dict[str, list[int]] = {}
        for entry in sorted(self.root.iterdir()):
            if entry.is_dir() and entry.name != IDS_DIR:
                versions = self._versions_in(entry)
                if versions:
                    out[_unescape(entry.name, "%")] = versions
        return out

    @staticmethod
    def _versions_in(folder: Path) -> list[int]:
        found = (_VERSION_FILE.match(p.name) for p in folder.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    async def versions(self, event_type: str) -> list[int]:
        folder = self._dir(event_type)
        return self._versions_in(folder) if folder.is_dir() else []

    async def schema(self, event_type: str, version: int) -> dict[str, Any] | None:
        path = self._dir(event_type) / f"v{version}.json"
        try:
            return _json_object(path.read_bytes(), str(path))
        except FileNotFoundError:
            return None
        except orjson.JSONDecodeError as exc:
            raise ConfigurationError(f"{path} is not JSON: {exc}") from None

    async def create(self, event_type: str, version: int, document: dict[str, Any]) -> None:
        _write_once(self._dir(event_type), f"v{version}.json", document)

    async def compatibility(self, event_type: str) -> str | None:
        path = self._dir(event_type) / "config.json"
        try:
            return _mode(_json_object(path.read_bytes(), str(path)))
        except FileNotFoundError:
            return None

    async def set_compatibility(self, event_type: str, mode: str) -> None:
        folder = self._dir(event_type)
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".config", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as f:
            f.write(orjson.dumps({"compatibility": mode}, option=orjson.OPT_INDENT_2) + b"\n")
        os.replace(tmp, folder / "config.json")

    async def schema_ids(self) -> dict[int, tuple[str, int]]:
        folder = self.root / IDS_DIR
        if not folder.is_dir():
            return {}
        out: dict[int, tuple[str, int]] = {}
        for path in folder.iterdir():
            found = re.fullmatch(r"([1-9][0-9]*)\.json", path.name)
            if found:
                out[int(found.group(1))] = _id_record(path.read_bytes(), str(path))
        return out

    async def claim_id(self, schema_id: int, event_type: str, version: int) -> None:
        _write_once(self.root / IDS_DIR, f"{schema_id}.json",
                    {"type": event_type, "version": version})


def _write_once(folder: Path, name: str, document: dict[str, Any]) -> None:
    """``folder/name`` created whole, once: :class:`SchemaConflictError` if it exists."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    fd, tmp = tempfile.mkstemp(prefix=".w", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, target)  # atomic, and refuses to replace
        except FileExistsError:
            raise SchemaConflictError(f"{target} exists already") from None
    finally:
        os.unlink(tmp)


def _id_record(raw: bytes, where: str) -> tuple[str, int]:
    """A schema id record read back: the type and version it names."""
    record = _json_object(raw, where)
    event_type, version = record.get("type"), record.get("version")
    if not isinstance(event_type, str) or not isinstance(version, int):
        raise EventkitError(f"the schema id record {where} does not name a type and version: "
                            "it was changed outside eventkit; restore it or delete it")
    return event_type, version


def _json_object(raw: bytes, where: str) -> dict[str, Any]:
    """A registry entry read back: a JSON object, or an entry damaged outside eventkit."""
    value = orjson.loads(raw)
    if not isinstance(value, dict):
        raise EventkitError(f"the schema registry entry {where} is not a JSON object: it was "
                            "changed outside eventkit; restore it or delete it")
    return value


def _mode(config: dict[str, Any]) -> str | None:
    """The compatibility mode a type's configuration names, if any."""
    mode = config.get("compatibility")
    return mode if isinstance(mode, str) else None
