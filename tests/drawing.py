"""What a chart draws: its marks read back from the SVG vl-convert renders (not its data).

Charts are checked as a reader sees them: bars as rectangles in pixels, tick
labels as text, lines as paths. The SVG is Vega's own, the same drawing the
browser makes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import altair as alt

from eventkit import charts

_RECT = re.compile(r'<path aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="bar"'
                   r' d="M([-\d.e]+),([-\d.e]+)h([-\d.e]+)v([-\d.e]+)h[-\d.e]+Z"'
                   r'(?: fill="([^"]*)")?')
_FRAME = re.compile(r'<path class="background" aria-hidden="true" d="M0\.5,0\.5h([\d.]+)v([\d.]+)')


@dataclass(frozen=True)
class Bar:
    """One drawn bar, in pixels of its plot (y grows downwards)."""

    label: str
    x: float
    y: float
    width: float
    height: float
    fill: str

    @property
    def bottom(self) -> float:
        return self.y + self.height


@dataclass(frozen=True)
class Drawing:
    svg: str

    @property
    def bars(self) -> list[Bar]:
        return [Bar(m[1], float(m[2]), float(m[3]), float(m[4]), float(m[5]), m[6] or "")
                for m in _RECT.finditer(self.svg)]

    @property
    def plot_size(self) -> tuple[float, float]:
        """Width and height of the (first) plot area."""
        found = _FRAME.search(self.svg)
        assert found, "no plot frame in the SVG"
        return float(found[1]), float(found[2])

    @property
    def texts(self) -> list[str]:
        return re.findall(r"<text[^>]*>([^<]*)</text>", self.svg)

    def axis_ticks(self, which: str) -> list[tuple[float, str]]:
        """(position in pixels, label) of each tick label of the ``x`` or ``y`` axis."""
        out = []
        for group in _axis_groups(self.svg, "role-axis-label"):
            labels = [(x, y, t) for x, y, rest, t in re.findall(
                r'<text[^>]*transform="translate\(([-\d.e]+),([-\d.e]+)\)"([^>]*)>([^<]*)</text>',
                group) if 'opacity="0"' not in rest]  # labels Vega hid (overlapping) are left out
            if not labels:
                continue
            xs = {round(float(x)) for x, _, _ in labels}
            ys = {round(float(y)) for _, y, _ in labels}
            horizontal = len(xs) > 1 or (len(ys) == 1 and len(labels) == 1)
            if which == "x" and horizontal and len(ys) == 1:
                out += [(float(x), t) for x, _, t in labels]
            elif which == "y" and len(xs) == 1 and len(ys) > 1:
                out += [(float(y), t) for _, y, t in labels]
        return out


def _axis_groups(svg: str, role: str) -> list[str]:
    groups = []
    for match in re.finditer(rf'<g class="mark-text {role}"', svg):
        end = svg.find("</g>", match.end())
        groups.append(svg[match.start():end])
    return groups


def draw(chart: alt.TopLevelMixin) -> Drawing:
    """The chart rendered to SVG offline, as eventkit's static pages draw it."""
    return Drawing(charts.to_svg(chart))
