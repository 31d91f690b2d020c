"""What every eventkit widget shares: one chart widget, offline drawing, a static fallback."""

from __future__ import annotations

import base64
import html
from typing import Any

import altair as alt
import ipywidgets as widgets
import traitlets

from eventkit import _offline

__all__ = ["ChartView", "ChartWidget", "mirror", "static_chart"]


def mirror(a: tuple[traitlets.HasTraits, str], b: tuple[traitlets.HasTraits, str]) -> None:
    """Keep trait ``a`` and trait ``b`` equal, both ways (``b`` starts with ``a``'s value).

    Like ``traitlets.link``, but an observer may correct a value while it is
    being copied (a page past the end becomes the last page): the correction
    is copied back instead of raising "broken link".
    """
    (one, one_name), (other, other_name) = a, b

    def copier(source: traitlets.HasTraits, source_name: str,
               target: traitlets.HasTraits, name: str) -> Any:
        def copy(change: dict[str, Any]) -> None:
            value = getattr(source, source_name)  # now, not when the change was announced
            if getattr(target, name) != value:
                setattr(target, name, value)
        return copy

    setattr(other, other_name, getattr(one, one_name))
    one.observe(copier(one, one_name, other, other_name), names=one_name)
    other.observe(copier(other, other_name, one, one_name), names=other_name)


def static_chart(chart: alt.TopLevelMixin | None) -> str:
    """The chart as an inline JPEG ``<img>`` (drawn offline by vl-convert), or ``""``.

    A JPEG stays small however many marks the chart has (~50 KB, a third of
    a PNG's size; an SVG grows with the marks), which keeps saved notebooks small.
    """
    if chart is None:
        return ""
    import vl_convert as vlc

    from eventkit.charts import _vl_version

    try:
        picture = vlc.vegalite_to_jpeg(chart.to_json(), vl_version=_vl_version(), scale=1,
                                       quality=75)
    except Exception as exc:  # a fallback must never break the display
        return f"<p><i>(chart not drawn: {html.escape(type(exc).__name__)})</i></p>"
    return f'<img alt="chart" src="data:image/jpeg;base64,{base64.b64encode(picture).decode()}">'


class ChartView(alt.JupyterChart):
    """``alt.JupyterChart``, redrawn without validating again a chart that has no selection.

    Altair checks a whole spec against the Vega-Lite schema each time a chart
    is set (~20 ms for a small two-part chart: most of the drawing of a time
    scrubber's move). A chart that has no selections or params, replacing one
    that had none, is sent as its unchecked spec instead: the same dict. The
    first chart, and any chart with a selection, takes altair's own path.
    """

    @traitlets.observe("chart")
    def _on_change_chart(self, change: Any) -> None:
        if _plain(change.old) and _plain(change.new):
            self.spec = change.new.to_dict(validate=False)
        else:
            super()._on_change_chart(change)


def _plain(chart: Any) -> bool:
    """Whether ``chart`` is a chart with no params (no selection to follow)."""
    if chart is None or getattr(chart, "params", alt.Undefined) not in (alt.Undefined, []):
        return False
    from altair.jupyter.jupyter_chart import collect_transform_params

    return not collect_transform_params(chart)


class ChartWidget(widgets.VBox):
    """A box around one ``alt.JupyterChart``, which is kept and updated, never recreated.

    Each chart widget carries ~900 KB of JavaScript into a saved notebook, so
    a widget makes one and sets its ``chart`` on every update. Creating the
    first one sets up offline drawing (see :mod:`eventkit._offline`).

    Displaying it writes two outputs: the widget, then :meth:`to_html` (the
    widget as it was when displayed, with its chart as a picture). A style
    rule in the second hides it wherever the widget itself is drawn (a cell
    that holds an ``eventkit-live`` element), so JupyterLab with a kernel
    shows the live widget alone, while nbconvert's HTML, nbviewer and a
    notebook opened without a kernel show the picture. The picture cannot
    share the widget's output: a viewer that finds the widget's saved state
    picks the widget view and drops every other format of that output, and
    the widget view then needs a widget manager from the internet.
    """

    _title = "eventkit widget"

    def __init__(self, chart: Any) -> None:
        _offline.enable_offline()
        self._setting_chart = False
        self.chart_view = ChartView(chart, embed_options={"actions": False})
        super().__init__()
        self.add_class("eventkit-live")

    @property
    def chart(self) -> Any:
        """The chart shown now (an altair chart: save it, restyle it, compose it)."""
        return self.chart_view.chart

    def _show_chart(self, chart: Any) -> None:
        self._setting_chart = True
        try:
            self.chart_view.chart = chart
        finally:
            self._setting_chart = False

    # -- saved notebooks ----------------------------------------------------
    def _fallback_parts(self) -> list[str]:
        """HTML parts of the static fallback after the title and the chart."""
        return []

    def to_html(self) -> str:
        """The widget as static HTML: its title, its chart as a picture, what it shows now."""
        parts = [f"<h4>{html.escape(self._title)} (static view: run the notebook to use "
                 "the widget)</h4>", static_chart(self.chart), *self._fallback_parts()]
        return (_HIDE_WHERE_LIVE + '<div class="eventkit-static">'
                + "\n".join(f"<div>{p}</div>" for p in parts if p) + "</div>")

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = dict(super()._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = f"{self._title} (a widget: run the notebook to use it)"
        return bundle

    def _ipython_display_(self, **kwargs: Any) -> None:
        """Show the widget, then its static view (hidden where the widget is drawn)."""
        from IPython.display import display

        display(self._repr_mimebundle_(**kwargs), raw=True)
        display({"text/html": self.to_html()}, raw=True)


# Hides a static view in a cell where the live widget is drawn: JupyterLab's cells are
# .jp-Cell, nbconvert's lab template too, its classic one .cell.
_HIDE_WHERE_LIVE = ("<style>:is(.jp-Cell, .cell):has(.eventkit-live) .eventkit-static "
                    "{display: none}</style>")
