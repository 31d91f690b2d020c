"""Altair drawn with no internet, in JupyterLab and in saved notebooks.

Two traps, measured (altair 6, JupyterLab 4.6):

* altair's default renderer loads Vega from a CDN, and shows "Error loading
  script" offline;
* the ``mimetype`` renderer emits Vega-Lite 6, which JupyterLab's built-in
  renderer (Vega-Lite 5) does not know.

So chart widgets (``alt.JupyterChart``) load Vega from the bundle vl-convert
builds locally (a second or two, once per process, so it waits for the first
widget). Importing eventkit never switches altair's renderer: that is the
user's choice (their own charts keep their tooltips and selections).
:func:`use_offline_renderer` is the explicit call that draws plain charts as
static SVG (small, and visible in any saved notebook).
"""

from __future__ import annotations

import threading

__all__ = ["enable_offline", "use_offline_renderer"]

_lock = threading.Lock()


def use_offline_renderer() -> None:
    """Draw plain altair charts as SVG, unless the user chose a renderer already."""
    import altair as alt

    with _lock:
        if alt.renderers.active == "default":
            alt.renderers.enable("svg")


def enable_offline() -> None:
    """Make ``alt.JupyterChart`` load Vega from vl-convert's local bundle (not a CDN).

    Call before the first chart widget is created; later calls do nothing.
    Altair's renderer for plain charts is left as it is.
    """
    import altair as alt

    with _lock:
        if not alt.JupyterChart._is_offline:
            alt.JupyterChart.enable_offline()
