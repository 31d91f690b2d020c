"""One colour per name (an event type, a city, any group), the same in every chart and widget.

The base of :mod:`eventkit.charts`' colour scales and of the widgets' legends;
it needs nothing but the standard library.
"""

from __future__ import annotations

import math
import threading
import zlib

__all__ = ["OTHER_COLOR", "PALETTE", "type_color"]

#: Colours given to types: Tableau 10 without its grey, then dark shades unlike any of them.
PALETTE = ("#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2",
           "#ff9da6", "#9d755d", "#393b79", "#637939", "#843c39", "#7b4173", "#bcbd22",
           "#17becf", "#de9ed6")
#: The colour of "(other)" (groups lumped together) and of a missing value.
OTHER_COLOR = "#9d9d9d"
_colors: dict[str, str] = {}
_colors_lock = threading.Lock()


def type_color(name: str | None) -> str:
    """The colour of a type (or any group) named ``name``: the same in every chart and widget.

    A name's colour depends on the name alone (a hash picks its place in
    :data:`PALETTE`), so filtering never changes it. A later name whose place
    is taken, or whose colour would look like one already given (closer than
    :data:`DISTINCT` in CIE L*a*b*), takes the next free place that looks
    like none of them while the palette has one; names keep their colours for
    the session.

    Examples
    --------
    >>> type_color("trip_completed") == type_color("trip_completed")
    True
    >>> type_color("(other)")
    '#9d9d9d'
    """
    if name is None or name == "(other)":
        return OTHER_COLOR
    with _colors_lock:
        color = _colors.get(name)
        if color is None:
            taken = set(_colors.values())
            start = zlib.crc32(name.encode()) % len(PALETTE)
            free = [PALETTE[(start + i) % len(PALETTE)] for i in range(len(PALETTE))
                    if PALETTE[(start + i) % len(PALETTE)] not in taken]
            color = _colors[name] = _unlike(free, taken) if free else PALETTE[start]
        return color


#: The least CIE76 colour difference between two names' colours while the palette allows it
#: (the palette's closest pairs, yellow/olive or pink/mauve, are 17-18 apart).
DISTINCT = 30.0


def _lab(color: str) -> tuple[float, float, float]:
    """CIE L*a*b* (D65) of a ``#rrggbb`` colour."""
    def linear(c: float) -> float:
        return ((c + 0.055) / 1.055) ** 2.4 if c > 0.04045 else c / 12.92

    r, g, b = (linear(int(color[i:i + 2], 16) / 255) for i in (1, 3, 5))
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(v: float) -> float:
        return v ** (1 / 3) if v > 0.008856 else 7.787 * v + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def _unlike(free: list[str], taken: set[str]) -> str:
    """The first of ``free`` unlike every taken colour, else the one least like any."""
    def nearest(color: str) -> float:
        return min((_lab_distance(color, t) for t in taken), default=math.inf)

    return next((c for c in free if nearest(c) >= DISTINCT), None) or max(free, key=nearest)


def _lab_distance(a: str, b: str) -> float:
    return math.dist(_lab(a), _lab(b))
