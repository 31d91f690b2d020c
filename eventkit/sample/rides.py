"""A deterministic ride-share event history, as it would be published to JetStream.

Each ride is an entity (key ``ride_id``) with a lifecycle::

    ride_requested -> driver_assigned -> trip_started -> location_updated (several)
                   -> trip_completed -> payment_captured | payment_failed

and some rides end early with ``ride_cancelled`` (before or after a driver was
assigned). Every ride reaches one of those three terminal events.

The history carries the imperfections the rest of eventkit must cope with:

* ``event_time`` (in the payload, when it happened) is earlier than ``arrival``
  (when the store received it) by a small random delay, a few hundred ms;
* about 1.5% of the events arrive late, by seconds to minutes, so that for the
  same ride an event can arrive after a later one (out of order);
* about 0.1% of the events are published twice, both copies carrying the same
  ``Nats-Msg-Id`` header (a producer retrying after a lost ack);
* about 0.05% extra messages are malformed (at least one of each kind): a
  truncated JSON payload, a payload that is not UTF-8, and an empty payload;
* ``payment_captured`` changes schema in the middle of the history: version 1
  has ``amount`` (a float, in currency units), version 2 has
  ``schema_version: 2``, ``amount_cents`` (an int) and ``method``.

Payment events carry a ``Nats-Msg-Id`` header (the payment service publishes
with an idempotency key); most other messages have no headers at all.

Nothing here does I/O except :func:`write`, which saves a history as Parquet;
:func:`load` reads the small history shipped with the package.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import polars as pl

__all__ = [
    "CITIES",
    "PRODUCTS",
    "RULES",
    "SHIPPED",
    "SHIPPED_ARGS",
    "STREAM",
    "SUBJECTS",
    "generate",
    "load",
    "payment_schema_switch",
    "write",
]

#: The JetStream stream the history is published to, and its subjects.
STREAM = "RIDES"
SUBJECTS = ["rides.>"]

#: Stream metadata telling eventkit where each event's type, key and time are.
RULES = {
    "eventkit.type": "field:type,subject:-1",
    "eventkit.key": "field:ride_id",
    "eventkit.event_time": "field:event_time",
}

#: The parquet file shipped next to this module, and the arguments that made it.
#: The shipped history: package data, found the way any installed package finds its own.
SHIPPED = Path(str(resources.files("eventkit.sample").joinpath("rides.parquet")))
SHIPPED_ARGS: dict[str, Any] = {
    "seed": 7,
    "days": 2,
    "cities": ("berlin", "lisbon", "paris", "warsaw"),
    "rides_per_day": 1500,
    "start": "2026-11-01T00:00:00Z",
}

#: City -> (centre latitude, centre longitude, relative volume, UTC offset in
#: hours in November, currency).
CITIES: dict[str, tuple[float, float, float, int, str]] = {
    "amsterdam": (52.3728, 4.8936, 0.55, 1, "EUR"),
    "berlin": (52.5200, 13.4050, 0.80, 1, "EUR"),
    "lisbon": (38.7223, -9.1393, 0.45, 0, "EUR"),
    "london": (51.5072, -0.1276, 1.20, 0, "GBP"),
    "madrid": (40.4168, -3.7038, 0.75, 1, "EUR"),
    "paris": (48.8566, 2.3522, 1.00, 1, "EUR"),
    "prague": (50.0755, 14.4378, 0.40, 1, "CZK"),
    "warsaw": (52.2297, 21.0122, 0.50, 1, "PLN"),
}

#: Product -> fare multiplier.
PRODUCTS = {"standard": 1.0, "xl": 1.5, "green": 1.1}
_PRODUCT_NAMES = tuple(PRODUCTS)
_PRODUCT_CUM = (0.75, 0.90, 1.00)

# Requests per local hour of the day, relative (night lull, two rush hours).
# fmt: off
_HOURLY = (
    0.35, 0.25, 0.20, 0.15, 0.15, 0.25, 0.50, 0.90, 1.00, 0.80, 0.60, 0.60,
    0.70, 0.70, 0.60, 0.65, 0.80, 1.00, 1.00, 0.85, 0.75, 0.70, 0.65, 0.50,
)
# fmt: on

# Fare per city currency: (base, per km, per minute, minimum), in currency units.
_TARIFF = {
    "EUR": (2.5, 1.10, 0.25, 6.0),
    "GBP": (2.5, 1.25, 0.20, 6.0),
    "PLN": (6.0, 2.40, 0.50, 12.0),
    "CZK": (40.0, 22.0, 5.0, 100.0),
}

_CANCEL_EARLY = 0.06  # cancelled before a driver is assigned
_CANCEL_LATE = 0.05  # cancelled after assignment, before the trip starts
_PAYMENT_FAILS = 0.03
_LATE = 0.015  # share of events that arrive seconds to minutes late
_DUPLICATED = 0.001  # share of events published twice with the same Nats-Msg-Id
_MALFORMED = 0.0005  # extra malformed messages, per clean event
_EVENTS_PER_RIDE = 18.4  # measured mean, used to turn n_events into rides_per_day

_MS_PER_DAY = 86_400_000
_NS_PER_MS = 1_000_000


def payment_schema_switch(start: str | dt.datetime, days: int) -> dt.datetime:
    """The moment ``payment_captured`` switches from schema version 1 to 2.

    It is the middle of the history: a ``payment_captured`` whose
    ``event_time`` is at or after it is version 2.

    Examples
    --------
    >>> payment_schema_switch("2026-11-01T00:00:00Z", 2)
    datetime.datetime(2026, 11, 2, 0, 0, tzinfo=datetime.timezone.utc)
    """
    return _to_datetime(start) + dt.timedelta(days=days) / 2


def generate(
    seed: int = 7,
    days: int = 2,
    cities: Sequence[str] = ("berlin", "lisbon", "paris", "warsaw"),
    rides_per_day: int | None = None,
    start: str | dt.datetime = "2026-11-01T00:00:00Z",
    *,
    n_events: int | None = None,
) -> pl.DataFrame:
    """Generate a ride-share event history, in the order to publish it.

    Parameters
    ----------
    seed
        Seed of the random generator: the same seed and arguments give
        byte-identical output.
    days
        Length of the history; rides are requested during
        ``[start, start + days)`` and the last ones finish a little after.
    cities
        Names from :data:`CITIES`; busier cities get more rides.
    rides_per_day
        Rides requested per day over all cities (default 1500, about 27,000
        events a day). Give this or ``n_events``, not both.
    start
        Start of the history, an aware datetime or ISO-8601 text.
    n_events
        Ask for about this many events instead (within about 5%); the
        rides per day are chosen to match.

    Returns
    -------
    polars.DataFrame
        One row per message in arrival order, with columns ``subject``
        (``rides.<city>.<type>``), ``headers`` (a JSON object as text, or
        null), ``data`` (the payload bytes) and ``arrival``
        (``Datetime("ns", "UTC")``, when the store receives it).

    See Also
    --------
    load : the small history shipped with the package.

    Examples
    --------
    >>> df = generate(seed=1, n_events=200)
    >>> df.height, df.columns
    (205, ['subject', 'headers', 'data', 'arrival'])
    >>> df.row(0)[0], df.row(0)[3]
    ('rides.berlin.ride_requested', datetime.datetime(2026, 11, 1, 8, 17, 50, 36091, tzinfo=...))
    >>> print(df["data"][0].decode())
    {"type":"ride_requested","ride_id":"ride-000001","event_time":"2026-11-01T08:17:49.837Z",...}
    >>> df["subject"].str.split(".").list.get(2).value_counts(sort=True).head(3).rows()
    [('location_updated', 152), ('ride_requested', 11), ('trip_started', 11)]
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    unknown = [c for c in cities if c not in CITIES]
    if unknown or not cities:
        raise ValueError(
            f"unknown cities {unknown}: choose from {sorted(CITIES)}"
            if unknown
            else "give at least one city"
        )
    if n_events is not None and rides_per_day is not None:
        raise ValueError("give rides_per_day or n_events, not both")
    if n_events is not None:
        if n_events < 1:
            raise ValueError(f"n_events must be positive, got {n_events}")
        rides_per_day = max(1, round(n_events / (days * _EVENTS_PER_RIDE)))
    elif rides_per_day is None:
        rides_per_day = 1500
    if rides_per_day < 1:
        raise ValueError(f"rides_per_day must be positive, got {rides_per_day}")

    t0 = _to_datetime(start)
    start_ms = int(t0.timestamp() * 1000)
    switch_ms = int(payment_schema_switch(t0, days).timestamp() * 1000)
    rnd = random.Random(seed)

    requests = _requests(rnd, start_ms, days, tuple(cities), rides_per_day)
    events = _Events()
    for number, (request_ms, city) in enumerate(requests, start=1):
        _ride(rnd, events, f"ride-{number:06d}", city, request_ms, switch_ms)
    return events.to_frame(rnd)


def write(
    path: str | Path = SHIPPED, *, seed: int = 7, days: int = 2,
    cities: Sequence[str] = ("berlin", "lisbon", "paris", "warsaw"),
    rides_per_day: int | None = None, start: str | dt.datetime = "2026-11-01T00:00:00Z",
    n_events: int | None = None,
) -> Path:
    """Generate a history and write it to a Parquet file.

    The keyword arguments are :func:`generate`'s (the defaults make the shipped
    file, :data:`SHIPPED_ARGS`); they are also recorded in the file's metadata
    under ``sample_data.args``.
    """
    args: dict[str, Any] = {"seed": seed, "days": days, "cities": tuple(cities)}
    if n_events is None:
        args["rides_per_day"] = rides_per_day if rides_per_day is not None else 1500
    else:  # (with rides_per_day too, generate says to give one of them)
        args |= {"n_events": n_events} | (
            {} if rides_per_day is None else {"rides_per_day": rides_per_day})
    args["start"] = start
    df = generate(**args)
    path = Path(path)
    recorded = {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()}
    df.write_parquet(
        path,
        compression="zstd",
        compression_level=9,
        metadata={"sample_data.args": orjson.dumps(recorded).decode()},
    )
    return path


def load(path: str | Path = SHIPPED) -> pl.DataFrame:
    """Read the history shipped with the package (or one :func:`write` saved).

    Examples
    --------
    >>> df = load()
    >>> df.columns
    ['subject', 'headers', 'data', 'arrival']
    >>> df.height > 40_000
    True
    """
    return pl.read_parquet(path)


# -- the rides -----------------------------------------------------------------


def _requests(
    rnd: random.Random, start_ms: int, days: int, cities: tuple[str, ...], rides_per_day: int
) -> list[tuple[int, str]]:
    """Request times for every city, in time order (ride ids follow it)."""
    total = sum(CITIES[c][2] for c in cities)
    hours = range(days * 24)
    out: list[tuple[int, str]] = []
    for city in cities:
        offset = CITIES[city][3]
        weights = [_HOURLY[(h + offset) % 24] for h in hours]
        n = max(1, round(rides_per_day * days * CITIES[city][2] / total))
        for hour in rnd.choices(hours, weights=weights, k=n):
            out.append((start_ms + hour * 3_600_000 + rnd.randrange(3_600_000), city))
    out.sort()
    return out


def _ride(
    rnd: random.Random, events: _Events, ride_id: str, city: str, t: int, switch_ms: int
) -> None:
    """Append one ride's events, in event-time order.

    Each payload's fields after ``type``, ``ride_id`` and ``event_time`` are
    written as compact JSON text directly (every string here is plain ASCII
    that needs no escaping, and ``repr`` of a float is its shortest JSON
    form): it is several times faster than building dicts for ``orjson``,
    and byte-identical to ``orjson.dumps`` of the same object.
    """
    lat0, lon0, _, _, currency = CITIES[city]
    add = events.add
    gauss, uniform, random_, randrange = rnd.gauss, rnd.uniform, rnd.random, rnd.randrange

    product = rnd.choices(_PRODUCT_NAMES, cum_weights=_PRODUCT_CUM)[0]
    plat, plon = round(lat0 + gauss(0, 0.025), 6), round(lon0 + gauss(0, 0.035), 6)
    dlat, dlon = round(plat + gauss(0, 0.03), 6), round(plon + gauss(0, 0.045), 6)
    # Straight-line km (equirectangular), times a road factor.
    kx = 111.32 * math.cos(math.radians(lat0))
    distance_km = max(0.6, 1.3 * math.hypot((dlat - plat) * 110.57, (dlon - plon) * kx))
    add(
        ride_id,
        city,
        "ride_requested",
        t,
        f'"rider_id":"rdr-{randrange(1, 200_000):06d}","city":"{city}","product":"{product}",'
        f'"pickup_lat":{plat!r},"pickup_lon":{plon!r},'
        f'"dropoff_lat":{dlat!r},"dropoff_lon":{dlon!r}',
    )

    u = random_()
    if u < _CANCEL_EARLY:
        t += randrange(15_000, 240_000)
        by = "system" if u < _CANCEL_EARLY / 3 else "rider"
        reason = (
            "no_driver_available"
            if by == "system"
            else rnd.choice(("changed_plans", "wait_too_long", "requested_by_mistake"))
        )
        add(ride_id, city, "ride_cancelled", t, f'"reason":"{reason}","by":"{by}"')
        return

    driver_id = f"drv-{randrange(1, 20_000):05d}"
    eta_s = randrange(60, 600)
    t += randrange(2_000, 45_000)
    add(ride_id, city, "driver_assigned", t, f'"driver_id":"{driver_id}","eta_s":{eta_s}')

    if u < _CANCEL_EARLY + _CANCEL_LATE:
        t += randrange(10_000, eta_s * 1000)
        if random_() < 0.7:
            by, reason = "rider", rnd.choice(("changed_plans", "driver_too_far", "found_other"))
        else:
            by, reason = "driver", rnd.choice(("rider_no_show", "vehicle_issue"))
        add(ride_id, city, "ride_cancelled", t, f'"reason":"{reason}","by":"{by}"')
        return

    t += int(eta_s * 1000 * uniform(0.7, 1.4))
    add(ride_id, city, "trip_started", t, f'"driver_id":"{driver_id}"')

    # A position about once a minute, along the straight line with some noise.
    avg_kmh = uniform(14.0, 34.0)
    duration_ms = int(distance_km / avg_kmh * 3_600_000) + randrange(30_000, 120_000)
    begin = t
    elapsed = randrange(20_000, 70_000)
    while elapsed < duration_ms - 5_000:
        f = elapsed / duration_ms
        lat = round(plat + (dlat - plat) * f + gauss(0, 0.0004), 6)
        lon = round(plon + (dlon - plon) * f + gauss(0, 0.0006), 6)
        speed = 0.0 if random_() < 0.08 else round(avg_kmh * uniform(0.4, 1.6), 1)
        add(
            ride_id,
            city,
            "location_updated",
            begin + elapsed,
            f'"driver_id":"{driver_id}","lat":{lat!r},"lon":{lon!r},"speed_kmh":{speed!r}',
        )
        elapsed += randrange(45_000, 75_000)
    t = begin + duration_ms

    base, per_km, per_min, minimum = _TARIFF[currency]
    fare = (base + per_km * distance_km + per_min * duration_ms / 60_000) * PRODUCTS[product]
    fare = round(max(minimum, fare), 2)
    add(
        ride_id,
        city,
        "trip_completed",
        t,
        f'"driver_id":"{driver_id}","fare":{fare!r},"distance_km":{round(distance_km, 2)!r},'
        f'"duration_s":{duration_ms // 1000},"currency":"{currency}"',
    )

    t += randrange(1_000, 8_000)
    cents = round(fare * 100)
    if random_() < _PAYMENT_FAILS:
        reason = rnd.choice(("card_declined", "insufficient_funds", "expired_card"))
        add(
            ride_id,
            city,
            "payment_failed",
            t,
            f'"reason":"{reason}","amount_cents":{cents}',
            msg_id=True,
        )
    elif t < switch_ms:  # schema version 1
        add(
            ride_id,
            city,
            "payment_captured",
            t,
            f'"amount":{fare!r},"currency":"{currency}"',
            msg_id=True,
        )
    else:
        method = "card" if random_() < 0.7 else "wallet"
        add(
            ride_id,
            city,
            "payment_captured",
            t,
            f'"schema_version":2,"amount_cents":{cents},"currency":"{currency}",'
            f'"method":"{method}"',
            msg_id=True,
        )


class _Events:
    """Clean events as they are made, then turned into arriving messages."""

    def __init__(self) -> None:
        self.subject: list[str] = []
        self.data: list[bytes] = []
        self.event_ms: list[int] = []
        self.msg_id: list[str] = []  # a header on payments and duplicates only
        self.has_msg_id: list[bool] = []
        self._subjects: dict[tuple[str, str], str] = {}
        self._days: dict[int, str] = {}

    def add(
        self, ride_id: str, city: str, kind: str, ms: int, fields: str, *, msg_id: bool = False
    ) -> None:
        """Append one event; ``fields`` is the rest of the JSON object, as text."""
        subject = self._subjects.get((city, kind))
        if subject is None:
            subject = self._subjects[city, kind] = f"rides.{city}.{kind}"
        # event_time: ISO-8601 UTC with milliseconds, made without datetime objects.
        day, rest = divmod(ms, _MS_PER_DAY)
        date = self._days.get(day)
        if date is None:
            date = self._days[day] = dt.datetime.fromtimestamp(day * 86_400, dt.UTC).strftime(
                "%Y-%m-%dT"
            )
        seconds, milli = divmod(rest, 1000)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        self.subject.append(subject)
        self.data.append(
            f'{{"type":"{kind}","ride_id":"{ride_id}","event_time":"{date}'
            f'{hour:02d}:{minute:02d}:{second:02d}.{milli:03d}Z",{fields}}}'.encode()
        )
        self.event_ms.append(ms)
        self.msg_id.append(f"{ride_id}:{kind}:{ms}")
        self.has_msg_id.append(msg_id)

    def to_frame(self, rnd: random.Random) -> pl.DataFrame:
        """Delay, duplicate and corrupt the events, and order them by arrival."""
        n = len(self.data)
        expovariate, random_ = rnd.expovariate, rnd.random
        # Usual transport delay: 20 ms plus an exponential with a 250 ms mean.
        arrival = [
            ms * _NS_PER_MS + int((20.0 + expovariate(0.004)) * _NS_PER_MS) for ms in self.event_ms
        ]
        for i in rnd.sample(range(n), max(1, round(n * _LATE))):
            # Late: 2 s to 5 min, log-uniform.
            arrival[i] = self.event_ms[i] * _NS_PER_MS + int(2e9 * 150.0 ** random_())

        subject, data = self.subject, self.data
        headers = [
            _headers(m) if has else None
            for m, has in zip(self.msg_id, self.has_msg_id, strict=True)
        ]
        for i in sorted(rnd.sample(range(n), max(1, round(n * _DUPLICATED)))):
            # Published again after a lost ack, 0.5 s to 3 s later, same msg id.
            headers[i] = _headers(self.msg_id[i])
            subject.append(subject[i])
            headers.append(headers[i])
            data.append(data[i])
            arrival.append(arrival[i] + rnd.randrange(500_000_000, 3_000_000_000))

        # Extra malformed messages, each made from a clean one, arriving next to it.
        count = max(3, round(n * _MALFORMED))
        for k, i in enumerate(rnd.sample(range(n), count)):
            good = data[i]
            if k % 3 == 0:  # truncated JSON
                bad = good[: rnd.randrange(8, len(good) - 1)]
            elif k % 3 == 1:  # not UTF-8: a Latin-1 "é" from a misconfigured producer
                bad = good[:-1] + b',"note":"caf\xe9"}'
            else:  # empty
                bad = b""
            subject.append(subject[i])
            headers.append(None)
            data.append(bad)
            arrival.append(arrival[i] + rnd.randrange(1_000, 50_000_000))

        return (
            pl.DataFrame(
                {
                    "subject": pl.Series(subject, dtype=pl.String),
                    "headers": pl.Series(headers, dtype=pl.String),
                    "data": pl.Series(data, dtype=pl.Binary),
                    "arrival": pl.Series(arrival, dtype=pl.Int64),
                }
            )
            .with_columns(pl.col("arrival").cast(pl.Datetime("ns", "UTC")))
            .sort("arrival", maintain_order=True)
        )


def _headers(msg_id: str) -> str:
    return orjson.dumps({"Nats-Msg-Id": msg_id}).decode()


def _to_datetime(value: str | dt.datetime) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"start must be timezone-aware (e.g. '...Z'), got {value!r}")
    return value.astimezone(dt.UTC)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m eventkit.sample.rides",
        description="Write a deterministic ride-share event history as Parquet.",
    )
    parser.add_argument("--out", type=Path, default=SHIPPED, help="where to write (.parquet)")
    parser.add_argument("--seed", type=int, default=SHIPPED_ARGS["seed"])
    parser.add_argument("--days", type=int, default=SHIPPED_ARGS["days"])
    parser.add_argument("--cities", default=",".join(SHIPPED_ARGS["cities"]))
    parser.add_argument("--start", default=SHIPPED_ARGS["start"])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--rides-per-day", type=int)
    size.add_argument("--n-events", type=int)
    a = parser.parse_args(argv)
    args: dict[str, Any] = {
        "seed": a.seed,
        "days": a.days,
        "cities": tuple(a.cities.split(",")),
        "start": a.start,
    }
    if a.n_events is not None:
        args["n_events"] = a.n_events
    else:
        args["rides_per_day"] = a.rides_per_day or SHIPPED_ARGS["rides_per_day"]
    path = write(a.out, **args)
    print(f"wrote {pl.read_parquet(path).height:,} messages to {path}")


if __name__ == "__main__":
    main()
