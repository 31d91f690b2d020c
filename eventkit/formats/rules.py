"""How a message's format is found: a list of places tried in order, like the type rules.

A place is ``header:NAME`` (a header holding a content type, e.g.
``content-type`` or ``ce-datacontenttype``), ``magic`` (the payload's first
bytes: Confluent's magic byte 0 and a 4-byte schema id, or Avro's
single-object marker ``C3 01`` and a fingerprint), ``registry`` (the format
the schema registry holds for the event's type) or a format name (``json``,
``avro``, ``protobuf``, ``msgpack``, ``cloudevents``), which always answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from eventkit.exceptions import ConfigurationError

__all__ = ["DEFAULT", "FORMATS", "METADATA_KEY", "FormatRules", "content_format"]

FORMATS = ("json", "avro", "protobuf", "msgpack", "cloudevents")
DEFAULT = "header:content-type,header:ce-datacontenttype,magic,registry,json"
#: The stream metadata key that carries a stream's own format rules.
METADATA_KEY = "eventkit.format"

_CONTENT = (  # a content type -> format, by the first fragment found in it
    ("cloudevents-batch", None), ("cloudevents", "cloudevents"), ("avro", "avro"),
    ("protobuf", "protobuf"), ("proto", "protobuf"), ("msgpack", "msgpack"),
    ("json", "json"),
)


def content_format(content_type: str | None) -> str | None:
    """The format a content type names, or None.

    >>> [content_format(c) for c in ("application/json; charset=utf-8", "application/x-protobuf",
    ...  "avro/binary", "application/vnd.msgpack", "application/cloudevents+json", "text/plain")]
    ['json', 'protobuf', 'avro', 'msgpack', 'cloudevents', None]
    """
    if not content_type:
        return None
    kind = content_type.split(";")[0].strip().lower()
    for fragment, name in _CONTENT:
        if fragment in kind:
            return name
    return None


@dataclass(frozen=True, slots=True)
class FormatRules:
    """Where each message's payload format is found (see the module docstring).

    Examples
    --------
    >>> FormatRules.parse(None).places
    ('header:content-type', 'header:ce-datacontenttype', 'magic', 'registry', 'json')
    >>> FormatRules.parse("msgpack").only
    'msgpack'
    >>> FormatRules.parse("header:content-type,xml")
    Traceback (most recent call last):
    ...
    eventkit.exceptions.ConfigurationError: format place 'xml' is not understood: write ...
    """

    places: tuple[str, ...]

    @classmethod
    def parse(cls, spec: str | Iterable[str] | FormatRules | None) -> FormatRules:
        if isinstance(spec, FormatRules):
            return spec
        if spec is None:
            spec = DEFAULT
        items = spec.split(",") if isinstance(spec, str) else list(spec)
        places = tuple(p.strip().lower() if not p.strip().startswith("header:") else p.strip()
                       for p in items if p.strip())
        for p in places:
            if not (p in FORMATS or p in ("magic", "registry")
                    or (p.startswith("header:") and len(p) > 7)):
                raise ConfigurationError(
                    f"format place {p!r} is not understood: write 'header:NAME', 'magic', "
                    f"'registry' or a format ({', '.join(FORMATS)})")
        if not places:
            raise ConfigurationError("format rules must name at least one place to look")
        return cls(places)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str] | None) -> FormatRules:
        """The stream's own rules (metadata ``eventkit.format``), else the default."""
        return cls.parse((metadata or {}).get(METADATA_KEY) or None)

    @property
    def only(self) -> str | None:
        """The one format every message has, when the first place is a format name."""
        return self.places[0] if self.places[0] in FORMATS else None

    def headers(self) -> list[str]:
        return [p[7:] for p in self.places if p.startswith("header:")]

    def __str__(self) -> str:
        return ",".join(self.places)
