"""Writing events out: Parquet as they are, CSV and JSON lines with the payload as text.

Parquet keeps every column as it is, the raw payload bytes included. CSV and
JSON lines hold text, so binary columns are written as UTF-8 text where they
are valid UTF-8 (a JSON payload reads as itself) and as base64 otherwise,
with a column saying which: nothing is lost either way.

Examples
--------
>>> import polars as pl
>>> frame = pl.DataFrame({"seq": [1, 2], "data": [b'{"fare":12}', b"\\xff\\x00"]})
>>> to_text(frame).rows()
[(1, '{"fare":12}', 'utf-8'), (2, '/wA=', 'base64')]
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Literal

import polars as pl

from eventkit.exceptions import ConfigurationError

__all__ = ["FORMATS", "ExportFormat", "to_text", "write"]

ExportFormat = Literal["parquet", "csv", "jsonl"]

#: The formats :func:`write` knows, by the file suffix that implies them.
FORMATS: dict[str, ExportFormat] = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl",
                                     ".ndjson": "jsonl", ".json": "jsonl"}


def to_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Binary columns as text: UTF-8 where valid, else base64, and ``<name>_encoding`` says which.

    Nested columns (structs, lists) are kept; :func:`write` turns them into
    JSON text for CSV.
    """
    out = frame
    for name, dtype in frame.schema.items():
        if dtype == pl.Binary:
            text, encoding = zip(*map(_as_text, frame[name].to_list()), strict=True) \
                if frame.height else ((), ())
            at = out.get_column_index(name)
            out = out.with_columns(pl.Series(name, text, dtype=pl.String)).insert_column(
                at + 1, pl.Series(f"{name}_encoding", encoding, dtype=pl.String))
    return out


def _as_text(value: bytes | None) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    try:
        return value.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(value).decode("ascii"), "base64"


def write(frame: pl.DataFrame, path: str | os.PathLike[str], *,
          format: ExportFormat | None = None) -> Path:
    """Write ``frame`` to ``path`` as Parquet, CSV or JSON lines (by ``format`` or the suffix).

    Returns
    -------
    Path
        Where it was written.
    """
    target = Path(path)
    kind = format or FORMATS.get(target.suffix.lower())
    if kind not in ("parquet", "csv", "jsonl"):
        raise ConfigurationError(
            f"cannot tell the format of {target.name}: give format='parquet', 'csv' or 'jsonl' "
            "(or a file ending in .parquet, .csv or .jsonl)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":
        frame.write_parquet(target, compression="zstd")
    elif kind == "jsonl":
        to_text(frame).write_ndjson(target)
    else:
        text = to_text(frame)
        nested = [n for n, t in text.schema.items() if isinstance(t, pl.Struct | pl.List)]
        if nested:
            text = text.with_columns(pl.struct(n).struct.json_encode()
                                     .str.strip_prefix(f'{{"{n}":').str.strip_suffix("}")
                                     .alias(n) for n in nested)
        text.write_csv(target)
    return target
