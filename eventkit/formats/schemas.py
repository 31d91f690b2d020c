"""The writer schemas non-JSON payloads are decoded with, found by id, fingerprint or type."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import polars as pl

__all__ = ["Schemas", "WriterSchema"]


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: a group key
class WriterSchema:
    """One registered schema of one event type, ready to decode with.

    ``schema`` is the parsed Avro schema (``fastavro.parse_schema``) or the
    protobuf message class; ``schema_id`` the Confluent-style global id.
    """

    event_type: str
    version: int
    format: str
    schema: Any = None
    schema_id: int | None = None


class Schemas:
    """Writer schemas by Confluent id, by Avro fingerprint and by event type (newest version).

    Examples
    --------
    >>> s = Schemas([WriterSchema("placed", 1, "avro", "long", 7),
    ...              WriterSchema("placed", 2, "avro", "int", 8)])
    >>> s.by_id(7).version, s.by_type("placed").version, s.by_id(99)
    (1, 2, None)
    >>> s.by_fingerprint(bytes.fromhex("7275d51a3f395c8f")).version  # "int", little-endian
    2
    """

    def __init__(self, entries: Iterable[WriterSchema] = (),
                 upcast: Callable[[str, int, pl.DataFrame], pl.DataFrame] | None = None
                 ) -> None:
        self._upcast = upcast  # a registry snapshot's: old versions to the newest shape
        self._ids: dict[int, WriterSchema] = {}
        self._types: dict[str, WriterSchema] = {}
        self._fingerprints: dict[bytes, WriterSchema] | None = None
        self._entries = list(entries)
        for e in self._entries:
            if e.schema_id is not None:
                self._ids[e.schema_id] = e
            newest = self._types.get(e.event_type)
            if newest is None or e.version > newest.version:
                self._types[e.event_type] = e

    def newest(self, entry: WriterSchema, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` (records written with ``entry``) brought to the newest version's shape
        by the registry's upcasters (see :meth:`eventkit.schema.Snapshot.upcast`)."""
        if self._upcast is None or entry.version >= self._types[entry.event_type].version:
            return frame
        row = pl.int_range(frame.height, dtype=pl.Int64, eager=True).alias("seq")
        out = self._upcast(entry.event_type, entry.version, frame.insert_column(0, row))
        return out.sort("seq").drop("seq")

    def __bool__(self) -> bool:
        return bool(self._entries)

    def by_id(self, schema_id: int) -> WriterSchema | None:
        return self._ids.get(schema_id)

    def by_type(self, event_type: str) -> WriterSchema | None:
        return self._types.get(event_type)

    def by_fingerprint(self, fingerprint: bytes) -> WriterSchema | None:
        """The Avro schema of CRC-64-AVRO fingerprint ``fingerprint`` (8 bytes, little-endian)."""
        if self._fingerprints is None:
            from fastavro.schema import fingerprint as rabin
            from fastavro.schema import to_parsing_canonical_form

            self._fingerprints = {}
            for e in self._entries:
                if e.format == "avro":
                    digest = rabin(to_parsing_canonical_form(e.schema), "CRC-64-AVRO")
                    self._fingerprints[int(digest, 16).to_bytes(8, "little")] = e
        return self._fingerprints.get(fingerprint)
