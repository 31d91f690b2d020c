"""Deprecated: JSON Schema support moved to ``eventkit.schema._json_*`` (private modules)."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

_PARTS = ("parse", "types", "reference", "lines", "validate", "decode", "infer")


def __getattr__(name: str) -> Any:
    for part in _PARTS if not name.startswith("__") else ():
        module = importlib.import_module(f"eventkit.schema._json_{part}")
        if name in vars(module):
            warnings.warn(f"eventkit._jsonschema moved: {name} is in eventkit.schema._json_{part}",
                          DeprecationWarning, stacklevel=2)
            return vars(module)[name]
    raise AttributeError(f"module 'eventkit._jsonschema' has no attribute {name!r}")
