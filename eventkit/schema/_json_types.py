"""JSON Schema meets polars: column types, the reasons a value fails, RFC 3339 date-times.

Pure; the one place a :class:`~eventkit.schema._json_parse.Spec` becomes a polars type.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl

if TYPE_CHECKING:
    pass

from eventkit._time import TIME
from eventkit.schema._json_parse import Spec

# -- Arrow types: the one place JSON Schema meets polars ------------------------
_OBJECT_PROBE = "__eventkit_object__"


def decode_dtype(spec: Spec) -> pl.DataType:
    """The polars type a value of ``spec`` is decoded into.

    Examples
    --------
    >>> from eventkit.schema._json_parse import parse_schema
    >>> decode_dtype(parse_schema({"type": "object", "properties": {
    ...     "at": {"type": "string", "format": "date-time"},
    ...     "stops": {"type": "array", "items": {"type": "integer"}}}}))
    Struct({'at': Datetime(time_unit='ns', time_zone='UTC'), 'stops': List(Int64)})
    """
    if spec.kind == "string":
        if spec.datetime:
            return TIME
        if spec.enum:  # a closed set of texts: a dictionary (categorical) column
            return pl.Enum(sorted(set(spec.enum)))
        return pl.String()
    if spec.kind == "integer":
        return pl.Int64()
    if spec.kind == "number":
        return pl.Float64()
    if spec.kind == "boolean":
        return pl.Boolean()
    if spec.kind == "object" and spec.properties:
        return pl.Struct({name: decode_dtype(sub) for name, sub in spec.properties})
    if spec.kind == "array":
        return pl.List(decode_dtype(spec.items) if spec.items else pl.String())
    return pl.String()  # any value, or an object without declared fields: its JSON text


def arrow_schema(spec: Spec) -> dict[str, pl.DataType]:
    """Column name -> polars type for the fields of a payload schema."""
    return {name: decode_dtype(sub) for name, sub in spec.properties}


def _probe_dtype(spec: Spec) -> pl.DataType:
    """A type polars reads only values of the right JSON type into (strict parse)."""
    if spec.kind == "string":
        return pl.Categorical()  # a JSON string, nothing else
    if spec.kind == "object":
        if spec.properties:
            return pl.Struct({name: _probe_dtype(sub) for name, sub in spec.properties})
        return pl.Struct({_OBJECT_PROBE: pl.Null()})  # any object, nothing else
    if spec.kind == "array":
        return pl.List(_probe_dtype(spec.items) if spec.items else pl.String())
    return decode_dtype(spec)


# -- reasons: one wording for the bulk and the per-event paths -------------------
REQUIRED = "required field is missing or null"
MISSING = "required field is missing"
NULL = "null is not allowed"
FORMAT = "not an RFC 3339 date-time"
EXTRA = "field not allowed (additionalProperties: false)"
NOT_OBJECT = "payload is not a JSON object"
NOT = "matches the schema under not"
INT64 = "integer out of the 64-bit range"


def _expected(spec: Spec, got: str) -> str:
    return f"expected {spec.describe()}, got {got}"


def _enum_reason(spec: Spec) -> str:
    shown = ", ".join(orjson.dumps(v).decode() for v in spec.enum or ())
    return f"not one of the allowed values ({shown})"


def _bound_reason(bound: tuple[float, bool], upper: bool) -> str:
    value, exclusive = bound
    shown = orjson.dumps(value).decode()
    if upper:
        return f"not less than {shown}" if exclusive else f"greater than the maximum {shown}"
    return f"not greater than {shown}" if exclusive else f"less than the minimum {shown}"


def _length_reason(n: int, upper: bool, unit: str) -> str:
    return f"longer than {n} {unit}" if upper else f"shorter than {n} {unit}"


def _values_reason(values: tuple[Any, ...]) -> str:
    shown = ", ".join(orjson.dumps(v).decode() for v in values)
    return f"not one of the allowed values ({shown})"


def _pattern_reason(spec: Spec) -> str:
    return f"does not match the pattern {spec.pattern}"


# RFC 3339 ``date-time``: one reading on both paths and in decoding, in integer
# arithmetic (ASCII digits only, ``T``/``Z`` in either case, any number of
# fraction digits, cut past the nanosecond). A leap second is allowed only at
# 23:59:60 UTC and decodes to 23:59:59.999999999 (the last instant of that
# minute: order and date kept). A valid time outside what a nanosecond
# timestamp holds (1677-09-21 to 2262-04-11) is refused with its own reason, so
# a value that passes never decodes to null or to another instant.
_RFC3339 = (r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
            r"(?:\.([0-9]+))?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))$")
_RFC3339_RE = re.compile(_RFC3339, re.ASCII)
RANGE = "date-time outside the range of nanosecond timestamps (1677-09-21 to 2262-04-11)"
_NS_RANGE = (-(2**63), 2**63 - 1)


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year, 0 included)."""
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468


def rfc3339_ns(text: str) -> int | bool | None:
    """Nanoseconds since the epoch of an RFC 3339 date-time; None if it is not one,
    False if it is one outside the nanosecond range.

    >>> rfc3339_ns("1998-12-31T23:59:60Z") - rfc3339_ns("1998-12-31T23:59:59Z")
    999999999
    >>> rfc3339_ns("1998-12-31T23:58:60Z"), rfc3339_ns("2026-11-01T1\u09e8:00:00Z")
    (None, None)
    """
    m = _RFC3339_RE.match(text)
    if m is None or text.endswith("\n"):
        return None
    year, month, day, hh, mm, ss = (int(g) for g in m.groups()[:6])
    frac, sign, oh, om = m.group(7), m.group(8), m.group(9), m.group(10)
    offset = 0 if sign is None else (1 if sign == "+" else -1) * (int(oh) * 60 + int(om))
    if not (1 <= month <= 12 and 1 <= day <= _days_in_month(year, month) and hh <= 23
            and mm <= 59 and ss <= 60 and (sign is None or (int(oh) <= 23 and int(om) <= 59))):
        return None
    leap = ss == 60
    if leap and (hh * 60 + mm - offset) % 1_440 != 1_439:
        return None
    seconds = _days(year, month, day) * 86_400 + hh * 3_600 + mm * 60 + min(ss, 59) - offset * 60
    ns = seconds * 10**9 + (999_999_999 if leap else int((frac or "")[:9].ljust(9, "0") or 0))
    return ns if _NS_RANGE[0] <= ns <= _NS_RANGE[1] else False


def _is_rfc3339(text: str) -> bool:
    return rfc3339_ns(text) is not None


def _rfc3339_expr(expr: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Vectorised :func:`rfc3339_ns`: ``(ns, valid)``, ``ns`` an Int128 (null where not a
    date-time), ``valid`` true where the text is an RFC 3339 date-time (in range or not).

    One regular expression without captures proves the form; the fields are then at
    fixed places (the date and time), or after the fraction (the zone)."""
    form = expr.str.contains(_RFC3339)

    def number(at: int, length: int) -> pl.Expr:
        return expr.str.slice(at, length).cast(pl.Int64, strict=False)

    year, month, day = number(0, 4), number(5, 2), number(8, 2)
    hh, mm, ss = number(11, 2), number(14, 2), number(17, 2)
    rest = expr.str.slice(19)
    zone = rest.str.strip_chars_start(".0123456789")
    frac = rest.str.slice(1, rest.str.len_bytes() - zone.str.len_bytes() - 1)
    signed = zone.str.slice(0, 1)
    oh = zone.str.slice(1, 2).cast(pl.Int64, strict=False)
    om = zone.str.slice(4, 2).cast(pl.Int64, strict=False)
    offset = (pl.when(signed == "+").then(oh * 60 + om).when(signed == "-")
              .then(-(oh * 60 + om)).otherwise(0))
    leap_year = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    dim = (pl.when(month == 2).then(pl.when(leap_year).then(29).otherwise(28))
           .when(month.is_in([4, 6, 9, 11])).then(30).otherwise(31))
    leap = ss == 60
    valid = (form & month.is_between(1, 12) & day.is_between(1, dim) & (hh <= 23) & (mm <= 59)
             & (ss <= 60) & (~signed.is_in(["+", "-"]) | ((oh <= 23) & (om <= 59)))
             & (~leap | ((hh * 60 + mm - offset) % 1_440 == 1_439)))
    y = year - (month <= 2).cast(pl.Int64)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + pl.when(month > 2).then(-3).otherwise(9)) + 2) // 5 + day - 1
    days = era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468
    seconds = (days * 86_400 + hh * 3_600 + mm * 60 + pl.min_horizontal(ss, 59)
               - offset * 60).cast(pl.Int128)
    nanos = frac.str.slice(0, 9).str.pad_end(9, "0").cast(pl.Int128, strict=False).fill_null(0)
    ns = seconds * 10**9 + pl.when(leap).then(pl.lit(999_999_999, pl.Int128)).otherwise(nanos)
    valid = valid.fill_null(False)
    return pl.when(valid).then(ns), valid


# The RFC 3339 form with the ranges of month, day, hour, minute, second and zone in
# it: what is left to check is the calendar (30 February), the leap second's minute
# and the year's range, the last two on the rare values that need them.
_RFC3339_RANGES = (r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt]"
                   r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\.[0-9]+)?"
                   r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$")


def _rfc3339_ok(text: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Per value: is it an RFC 3339 date-time, and is it one in the nanosecond range;
    the same answers as :func:`rfc3339_ns`, in four vectorised steps."""
    t = pl.col("t")
    year = t.str.slice(0, 4).cast(pl.Int64, strict=False)
    form = t.str.contains(_RFC3339_RANGES)
    common = (form & year.is_between(1678, 2261) & (t.str.slice(17, 2) != "60")
              & t.str.slice(0, 10).str.strptime(pl.Date, "%Y-%m-%d", strict=False).is_not_null())
    out = pl.DataFrame({"t": text}).select(form.alias("form"), common.alias("common"))
    form_s, valid = out.get_column("form").fill_null(False), out.get_column("common")
    valid = valid.fill_null(False)
    in_range = valid.clone()  # scatter writes in place: the two must not be one series
    rare = (form_s & ~valid).arg_true()  # another year, a leap second, 30 February
    if len(rare):
        read = [rfc3339_ns(v) for v in text.gather(rare).to_list()]
        valid = valid.scatter(rare, pl.Series([r is not None for r in read], dtype=pl.Boolean))
        in_range = in_range.scatter(rare, pl.Series(
            [r is not None and r is not False for r in read], dtype=pl.Boolean))
    return valid, in_range


def _rfc3339_time(expr: pl.Expr) -> pl.Expr:
    """Decoded RFC 3339 text: Datetime(ns, UTC), null where it is not a date-time in range."""
    ns, _ = _rfc3339_expr(expr)
    return pl.when(ns.is_between(*_NS_RANGE)).then(ns).cast(pl.Int64).cast(TIME)
