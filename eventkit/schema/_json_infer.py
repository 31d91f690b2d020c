"""Proposing a JSON Schema from the payloads seen (nothing is registered).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

from eventkit.schema._json_parse import DRAFT, json_kind
from eventkit.schema._json_types import _is_rfc3339


# -- inference ------------------------------------------------------------------
@dataclass(slots=True)
class _Seen:
    """What was seen at one place of many payloads."""

    values: int = 0                      # non-null values
    nulls: int = 0                       # explicit nulls
    kinds: set[str] = field(default_factory=set)
    all_datetime: bool = True
    objects: int = 0
    fields: dict[str, _Seen] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)   # objects holding the key
    items: _Seen | None = None


def _see(seen: _Seen, value: Any) -> None:
    if value is None:
        seen.nulls += 1
        return
    seen.values += 1
    kind = json_kind(value)
    seen.kinds.add(kind)
    if kind == "string":
        if seen.all_datetime and not _is_rfc3339(value):
            seen.all_datetime = False
    elif kind == "object":
        seen.objects += 1
        for name, v in value.items():
            seen.present[name] = seen.present.get(name, 0) + 1
            sub = seen.fields.get(name)
            if sub is None:
                sub = seen.fields[name] = _Seen()
            _see(sub, v)
    elif kind == "array":
        if seen.items is None:
            seen.items = _Seen()
        for v in value:
            _see(seen.items, v)


def _propose(seen: _Seen) -> dict[str, Any]:
    kinds = seen.kinds - ({"integer"} if "number" in seen.kinds else set())
    if len(kinds) != 1:
        return {}  # never seen with a value, or with values of different types: any
    kind = kinds.pop()
    out: dict[str, Any] = {"type": [kind, "null"] if seen.nulls else kind}
    if kind == "string" and seen.all_datetime:
        out["format"] = "date-time"
    elif kind == "object":
        out["properties"] = {name: _propose(sub) for name, sub in seen.fields.items()}
        required = [name for name in seen.fields if seen.present[name] == seen.objects]
        if required:
            out["required"] = required
    elif kind == "array" and seen.items is not None and (seen.items.values or seen.items.nulls):
        out["items"] = _propose(seen.items)
    return out


def infer_schema(payloads: Sequence[Any], *, title: str | None = None,
                 pinned: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A JSON Schema every one of ``payloads`` (decoded JSON objects) satisfies, and no looser.

    A field is required when every payload has it; a type allows null when
    a payload wrote ``null``; strings that are all RFC 3339 times get
    ``format: date-time``; a field seen with values of different types takes
    any value (``{}``). ``pinned`` fields get a ``const`` (e.g. the version field).

    Examples
    --------
    >>> infer_schema([{"fare": 9, "at": "2026-11-01T12:00:00Z"}, {"fare": 9.5, "tip": None}],
    ...              title="trip_completed")  # doctest: +NORMALIZE_WHITESPACE
    {'$schema': 'https://json-schema.org/draft/2020-12/schema', 'title': 'trip_completed',
     'type': 'object', 'properties': {'fare': {'type': 'number'},
     'at': {'type': 'string', 'format': 'date-time'}, 'tip': {}}, 'required': ['fare']}
    """
    seen = _Seen()
    for payload in payloads:
        if isinstance(payload, dict):
            _see(seen, payload)
    body: dict[str, Any] = _propose(seen) if seen.objects else {"type": "object",
                                                                 "properties": {}}
    body["type"] = "object"
    for name, value in (pinned or {}).items():
        if name in body.get("properties", {}):
            body["properties"][name] = {"type": json_kind(value), "const": value}
    head: dict[str, Any] = {"$schema": DRAFT}
    if title is not None:
        head["title"] = title
    return head | body
