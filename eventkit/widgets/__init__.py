"""Notebook widgets over events: explore, travel in time, replay, tail a stream live, and
see a stream's configuration, subjects and consumers (StreamView).

Each widget shows one altair chart (a single ``alt.JupyterChart``, updated in
place) with ipywidgets controls, and computes what it shows with the query
layer (:mod:`eventkit.query`), the replay layer (:mod:`eventkit.replay`) and
:mod:`eventkit.charts`; set its public traits from Python to drive it, as the
browser does.

Everything draws with no internet: creating the first widget makes
``alt.JupyterChart`` load Vega from vl-convert's local bundle
(:func:`enable_offline`). A saved notebook shows a static picture of each
widget where widgets cannot run. No connection, URL or credential is ever
kept in a widget's state.
"""

try:
    import altair  # noqa: F401
    import anywidget  # noqa: F401
    import ipywidgets  # noqa: F401
except ImportError as exc:  # the core installs without the jupyter extra
    from eventkit._deps import missing

    raise missing(exc.name or "ipywidgets", "eventkit.widgets") from exc

from eventkit._offline import enable_offline
from eventkit.widgets.explorer import Explorer
from eventkit.widgets.livetail import LiveTail
from eventkit.widgets.replay import ReplayPlayer
from eventkit.widgets.streamview import StreamView
from eventkit.widgets.timetravel import TimeTravel

__all__ = ["Explorer", "LiveTail", "ReplayPlayer", "StreamView", "TimeTravel", "enable_offline"]
