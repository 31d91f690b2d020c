"""Protobuf field types and the Arrow types they read as (one table for both readers)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

__all__ = ["MAX_SECONDS", "SCALARS", "WRAPPERS", "enum_names"]

SCALARS = {  # FieldDescriptor.TYPE_* -> Arrow
    1: pa.float64(), 2: pa.float32(), 3: pa.int64(), 4: pa.uint64(), 5: pa.int32(),
    6: pa.uint64(), 7: pa.uint32(), 8: pa.bool_(), 9: pa.string(), 12: pa.binary(),
    13: pa.uint32(), 15: pa.int32(), 16: pa.int64(), 17: pa.int32(), 18: pa.int64(),
}
#: The most seconds a Timestamp or Duration read as int64 nanoseconds can have.
MAX_SECONDS = (2**63 - 1) // 1_000_000_000 - 1
WRAPPERS = {f"google.protobuf.{n}Value" for n in
            ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")}


def enum_names(enum: Any) -> list[str]:
    """An enum's value names, each once (aliases share a number)."""
    return list(dict.fromkeys(v.name for v in enum.values))
