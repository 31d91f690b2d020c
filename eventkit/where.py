"""Content filters typed as data: ``fare > 50 and city = paris``, parsed, never evaluated as code.

A filter is conditions joined by ``and`` / ``or`` (``and`` binds tighter),
each ``FIELD OP VALUE`` or ``FIELD is [not] null``:

- ``FIELD`` is a column (an envelope column or a payload field) or a path
  into a nested payload field, ``pickup.city``;
- ``OP`` is one of ``=`` (also ``==``), ``!=``, ``>``, ``>=``, ``<``, ``<=``,
  ``contains`` (in the value's text), ``startswith``, ``~`` (a regular
  expression);
- ``VALUE`` is a number, ``true``/``false``, a word, or a quoted text
  (``'New York'``, ``"a b"``).

The text is split into tokens and turned into a polars expression; nothing
in it is ever run as Python.

Examples
--------
>>> import polars as pl
>>> rides = pl.DataFrame({"city": ["paris", "berlin", "paris"], "fare": [12.5, 60.0, 75.0],
...                       "driver_id": ["d-142", "d-7", "d-42"]})
>>> rides.filter(where("fare > 50 and city = paris"))["driver_id"].to_list()
['d-42']
>>> rides.filter(where("driver_id contains 42"))["driver_id"].to_list()
['d-142', 'd-42']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from eventkit.exceptions import ConfigurationError

__all__ = ["Condition", "filter_frame", "parse", "where"]

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<quoted>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<op>==|!=|>=|<=|=|>|<|~)
    | (?P<word>[^\s=!<>~"']+)
    )""", re.X)

_WORD_OPS = {"contains", "startswith"}


@dataclass(frozen=True, slots=True)
class Condition:
    """One ``field op value`` of a filter (``value`` None with ``is null`` / ``is not null``)."""

    field: str
    op: str
    value: str | float | int | bool | None

    def to_expr(self) -> pl.Expr:
        column = _column(self.field)
        if self.op in ("is null", "is not null"):
            return column.is_null() if self.op == "is null" else column.is_not_null()
        value = self.value
        if self.op in ("contains", "startswith", "~"):
            text = column.cast(pl.String)
            if self.op == "contains":
                return text.str.contains(str(value), literal=True)
            if self.op == "startswith":
                return text.str.starts_with(str(value))
            return text.str.contains(str(value))
        literal = pl.lit(value)
        compare = {"=": column.__eq__, "!=": column.__ne__, ">": column.__gt__,
                   ">=": column.__ge__, "<": column.__lt__, "<=": column.__le__}[self.op]
        return compare(literal)


def parse(text: str) -> list[list[Condition]]:
    """The conditions of a filter: a list of ``or`` branches, each a list joined by ``and``.

    Examples
    --------
    >>> for branch in parse("fare >= 10 and city = 'New York' or tip is not null"):
    ...     print(branch)
    [Condition(field='fare', op='>=', value=10), Condition(field='city', op='=', value='New York')]
    [Condition(field='tip', op='is not null', value=None)]
    """
    tokens = _tokens(text)
    branches: list[list[Condition]] = [[]]
    i = 0
    while True:
        if i >= len(tokens):
            raise ConfigurationError(f"the filter {text!r} ends where a condition should start")
        field = tokens[i][1]
        if tokens[i][0] != "word":
            raise ConfigurationError(f"the filter {text!r}: expected a field name, not {field!r}")
        condition, i = _condition(text, tokens, i)
        branches[-1].append(condition)
        if i == len(tokens):
            return branches
        joiner = tokens[i][1].lower()
        if tokens[i][0] != "word" or joiner not in ("and", "or"):
            raise ConfigurationError(
                f"the filter {text!r}: expected 'and' or 'or' after {condition.field} "
                f"{condition.op} ..., not {tokens[i][1]!r}"
            )
        if joiner == "or":
            branches.append([])
        i += 1


def where(text: str) -> pl.Expr:
    """A polars expression for a content filter (see the module's documentation).

    Raises
    ------
    ConfigurationError
        The text is not a filter; the message says where it went wrong.
    """
    branches = parse(text)
    expr: pl.Expr | None = None
    for branch in branches:
        part = branch[0].to_expr()
        for condition in branch[1:]:
            part = part & condition.to_expr()
        expr = part if expr is None else expr | part
    assert expr is not None  # parse never returns an empty filter
    return expr


def filter_frame(frame: pl.DataFrame, text: str) -> pl.DataFrame:
    """The rows of ``frame`` that match the filter ``text``, with a clear error when none can.

    Examples
    --------
    >>> filter_frame(pl.DataFrame({"fare": [5, 60]}), "fare > 50")["fare"].to_list()
    [60]
    >>> filter_frame(pl.DataFrame({"fare": [5, 60]}), "tip > 1")
    Traceback (most recent call last):
    ...
    eventkit.exceptions.ConfigurationError: the filter 'tip > 1' names tip, which these events
    do not have (their fields: fare)
    """
    branches = parse(text)
    missing = sorted({c.field.split(".")[0] for b in branches for c in b} - set(frame.columns))
    if missing:
        raise ConfigurationError(
            f"the filter {text!r} names {', '.join(missing)}, which these events do not have "
            f"(their fields: {', '.join(frame.columns)})"
        )
    try:
        return frame.filter(where(text))
    except (pl.exceptions.ComputeError, pl.exceptions.InvalidOperationError,
            pl.exceptions.SchemaError, pl.exceptions.StructFieldNotFoundError) as exc:
        raise ConfigurationError(
            f"the filter {text!r} does not fit these events' types: {str(exc).splitlines()[0]}"
        ) from None


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    at = 0
    text = text.rstrip()
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None or match.end() == at:
            raise ConfigurationError(f"the filter {text!r} cannot be read at {text[at:]!r}")
        kind = match.lastgroup or "word"
        tokens.append((kind, match.group(kind)))
        at = match.end()
    if not tokens:
        raise ConfigurationError("the filter is empty: write e.g. \"fare > 50\"")
    return tokens


def _condition(text: str, tokens: list[tuple[str, str]], i: int) -> tuple[Condition, int]:
    field = tokens[i][1]
    if i + 1 >= len(tokens):
        raise ConfigurationError(f"the filter {text!r}: {field!r} needs an operator and a value")
    kind, op = tokens[i + 1]
    if kind == "word" and op.lower() == "is":
        words = [t[1].lower() for t in tokens[i + 2:i + 4]]
        if words[:1] == ["null"]:
            return Condition(field, "is null", None), i + 3
        if words == ["not", "null"]:
            return Condition(field, "is not null", None), i + 4
        raise ConfigurationError(f"the filter {text!r}: write '{field} is null' or "
                                 f"'{field} is not null'")
    if kind == "word" and op.lower() in _WORD_OPS:
        op = op.lower()
    elif kind != "op":
        raise ConfigurationError(
            f"the filter {text!r}: {op!r} after {field!r} is not an operator (use =, !=, >, "
            ">=, <, <=, contains, startswith, ~)")
    if i + 2 >= len(tokens):
        raise ConfigurationError(f"the filter {text!r}: {field} {op} needs a value")
    vkind, raw = tokens[i + 2]
    if vkind == "op":
        raise ConfigurationError(f"the filter {text!r}: {field} {op} needs a value, not {raw!r}")
    value = _value(raw, quoted=vkind == "quoted", numeric=op not in ("contains", "startswith",
                                                                       "~"))
    return Condition(field, "=" if op == "==" else op, value), i + 3


def _value(raw: str, *, quoted: bool, numeric: bool) -> str | float | int | bool:
    if quoted:
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    if not numeric:
        return raw
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw)
    except ValueError:
        return raw


def _column(path: str) -> pl.Expr:
    head, *rest = path.split(".")
    column = pl.col(head)
    for name in rest:
        column = column.struct.field(name)
    return column
