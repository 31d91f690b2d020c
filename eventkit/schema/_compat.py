"""Compatibility of a new schema version with the registered ones, whatever the format.

Pure: entries in, :class:`~eventkit.schema._compat_json.Incompatibility` out.
The modes are Confluent's (BACKWARD, FORWARD, FULL, their transitive forms,
NONE; see :mod:`eventkit.schema._compat_json`); what "a reader reads a
writer's events" means is the format's own rule:

* JSON Schema: :mod:`eventkit.schema._compat_json` (validation, with the
  policy for open objects);
* Avro: the schema resolution rules of the Avro specification;
* Protobuf: wire compatibility of field numbers and types.

A type keeps one format: a version in another format than the one before it
is refused under every mode but NONE.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from eventkit.schema import _compat_avro, _compat_protobuf
from eventkit.schema._compat_json import Incompatibility, check_versions, mode
from eventkit.schema._compat_json import check as check_json
from eventkit.schema._entry import SchemaEntry
from eventkit.schema._json_parse import Spec

__all__ = ["check_entries"]


def check_entries(new: SchemaEntry, previous: Sequence[SchemaEntry], compatibility: str,
                  policy: str, spec_of: Callable[[SchemaEntry], Spec]
                  ) -> list[Incompatibility]:
    """Why ``new`` breaks ``compatibility`` with ``previous`` (oldest first)."""
    compatibility = mode(compatibility)
    if compatibility == "NONE" or not previous:
        return []
    against = previous if compatibility.endswith("_TRANSITIVE") else previous[-1:]
    other = [e for e in against if e.format != new.format]
    if other:
        return [Incompatibility(e.version, "backward", "", "changing the schema format",
                                f"version {e.version} is {e.format}, the new schema "
                                f"{new.format}; a type keeps one format unless registered "
                                "with compatibility=\"NONE\"") for e in other]
    if new.format == "json":
        return check_json(spec_of(new), [(e.version, spec_of(e)) for e in previous],
                          compatibility, policy)
    rules = _compat_avro if new.format == "avro" else _compat_protobuf
    return check_versions(rules.parsed(new), [(e.version, rules.parsed(e)) for e in previous],
                          compatibility, rules.read_problems, rules.RULES)
