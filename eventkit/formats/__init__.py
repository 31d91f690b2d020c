"""Payload formats other than JSON: each message decoded by its own format, in bulk.

``eventkit.codec.decode(..., formats=...)`` hands a batch here when any of its
messages may be other than plain JSON (:mod:`eventkit.formats.mixed`).

=========================== ===============================================================
module                      what
=========================== ===============================================================
:mod:`.rules`               how a message's format is found (``FormatRules``, content types)
:mod:`.mixed`               a batch split by format, each part decoded, the envelope built
:mod:`._unwrap`             one message at a time: compression, structured CloudEvents
:mod:`.avro`                Avro records to polars (polars' Avro reader, fastavro)
:mod:`.protobuf`            Protobuf messages to polars (upb, built from the descriptor)
:mod:`.messagepack`         MessagePack maps to polars (msgpack)
:mod:`.schemas`             the writer schemas, by Confluent id, fingerprint or type
=========================== ===============================================================
"""

__all__: list[str] = []
