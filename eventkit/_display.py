"""Rich notebook displays (``_repr_html_``) for eventkit's result objects.

Each object shows a title, its plain-text account (its ``str``) and its
tables as HTML, every value escaped: never a raw dataclass repr.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import polars as pl

__all__ = ["result_html"]

_STYLE = ("font-family:var(--jp-ui-font-family,sans-serif);border-left:3px solid {color};"
          "padding:2px 10px;margin:4px 0")


def result_html(title: str, text: str, tables: Mapping[str, pl.DataFrame] | None = None, *,
                ok: bool | None = None, rows: int = 10) -> str:
    """HTML for a result: a title (with a verdict when ``ok`` is given), its text, its tables.

    Examples
    --------
    >>> page = result_html("Sync of RIDES", "stored 3 <new> events", ok=True)
    >>> "&lt;new&gt;" in page and "OK" in page
    True
    """
    color = "#888" if ok is None else "#2ca02c" if ok else "#d62728"
    verdict = "" if ok is None else (" <span style='color:#2ca02c'>OK</span>" if ok
                                     else " <span style='color:#d62728'>PROBLEMS</span>")
    parts = [f"<div class='eventkit-result' style='{_STYLE.format(color=color)}'>",
             f"<b>{html.escape(title)}</b>{verdict}",
             f"<pre style='margin:4px 0'>{html.escape(text)}</pre>"]
    for name, frame in (tables or {}).items():
        if frame.height:
            more = f" (the first {rows} of {frame.height:,})" if frame.height > rows else ""
            parts.append(f"<details><summary>{html.escape(name)}: {frame.height:,} rows{more}"
                         f"</summary>{frame.head(rows)._repr_html_()}</details>")
    parts.append("</div>")
    return "".join(parts)
