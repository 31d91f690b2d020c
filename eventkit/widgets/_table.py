"""A small paged, sortable table drawn in the browser: one page of rows at a time.

The table holds no data beyond the page it shows: its owner computes the
page (with the query layer) and sets ``rows``; the browser sends back which
column to sort by, which page to show and which row was clicked.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import anywidget
import traitlets

__all__ = ["Table"]

_ESM = r"""
function render({ model, el }) {
  el.classList.add("ek-table");
  function button(text, enabled, onclick, cls) {
    const b = document.createElement("button");
    b.textContent = text;
    b.className = cls;
    b.disabled = !enabled;
    b.onclick = onclick;
    return b;
  }
  function draw() {
    const columns = model.get("columns"), rows = model.get("rows");
    const sortBy = model.get("sort_by"), descending = model.get("descending");
    const page = model.get("page"), size = model.get("page_size"), total = model.get("total");
    const selected = model.get("selected");
    const sortable = model.get("sortable");
    el.replaceChildren();
    const caption = document.createElement("div");
    caption.className = "ek-caption";
    caption.textContent = model.get("caption");
    el.appendChild(caption);
    const scroller = document.createElement("div");
    scroller.className = "ek-scroll";
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const c of columns) {
      const th = document.createElement("th");
      th.textContent = c + (c === sortBy ? (descending ? " \u25BC" : " \u25B2") : "");
      th.dataset.column = c;
      if (sortable) {
        th.classList.add("ek-sortable");
        th.title = "sort by " + c;
        th.onclick = () => {
          if (model.get("sort_by") === c) {
            model.set("descending", !model.get("descending"));
          } else {
            model.set("sort_by", c);
            model.set("descending", false);
          }
          model.set("page", 0);
          model.set("selected", -1);
          model.save_changes();
        };
      }
      head.appendChild(th);
    }
    const body = table.createTBody();
    rows.forEach((row, i) => {
      const tr = body.insertRow();
      if (i === selected) tr.classList.add("ek-selected");
      tr.onclick = () => { model.set("selected", i); model.save_changes(); };
      for (const value of row) tr.insertCell().textContent = value ?? "";
    });
    scroller.appendChild(table);
    el.appendChild(scroller);
    const pages = Math.max(1, Math.ceil(total / size));
    const pager = document.createElement("div");
    pager.className = "ek-pager";
    const go = (p) => () => {
      model.set("page", p);
      model.set("selected", -1);
      model.save_changes();
    };
    pager.appendChild(button("\u00AB first", page > 0, go(0), "ek-first"));
    pager.appendChild(button("\u2039 prev", page > 0, go(page - 1), "ek-prev"));
    const where = document.createElement("span");
    where.className = "ek-where";
    const first = total ? page * size + 1 : 0, last = Math.min(total, (page + 1) * size);
    where.textContent = ` rows ${first.toLocaleString("en")}\u2013${last.toLocaleString("en")}`
      + ` of ${total.toLocaleString("en")} (page ${page + 1} of ${pages.toLocaleString("en")}) `;
    pager.appendChild(where);
    pager.appendChild(button("next \u203A", page + 1 < pages, go(page + 1), "ek-next"));
    pager.appendChild(button("last \u00BB", page + 1 < pages, go(pages - 1), "ek-last"));
    el.appendChild(pager);
  }
  const names = ["columns", "rows", "sort_by", "descending", "page", "page_size", "total",
                 "selected", "caption", "sortable"];
  for (const name of names) model.on("change:" + name, draw);
  draw();
  return () => { for (const name of names) model.off("change:" + name, draw); };
}
export default { render };
"""

_CSS = r"""
.ek-table { font-size: 12px; font-family: var(--jp-code-font-family, monospace); }
.ek-table .ek-caption { font-family: var(--jp-ui-font-family, sans-serif); margin: 2px 0 4px; }
.ek-table { max-width: 100%; min-width: 0; }
/* a wide table scrolls inside the output instead of widening it (and being cut off):
   inline-size containment keeps its columns out of the width of the boxes around it */
.ek-table .ek-scroll { width: 100%; max-width: 100%; overflow-x: auto; contain: inline-size; }
.ek-table table { border-collapse: collapse; }
.ek-table th, .ek-table td { padding: 2px 8px; border-bottom: 1px solid #ddd;
  text-align: left; white-space: nowrap; max-width: 28em; overflow: hidden;
  text-overflow: ellipsis; }
.ek-table th { background: #f3f3f3; user-select: none; }
.ek-table th.ek-sortable { cursor: pointer; }
.ek-table tbody tr { cursor: pointer; }
.ek-table tbody tr:hover { background: #eef4fb; }
.ek-table tbody tr.ek-selected { background: #cfe3fa; }
.ek-table .ek-pager { margin-top: 4px; font-family: var(--jp-ui-font-family, sans-serif); }
.ek-table .ek-pager button { margin-right: 4px; }
"""


class Table(anywidget.AnyWidget):
    """One page of a table, sortable by clicking a column, with a pager.

    ``rows`` are the page's cells as text. The browser sets ``sort_by``,
    ``descending``, ``page`` and ``selected`` (the index of the clicked row
    in the page, -1 for none); the owner observes them and sets ``rows``,
    ``total`` and ``caption``.

    Examples
    --------
    >>> table = Table(columns=["seq", "type"], rows=[["1", "a"]], total=1)
    >>> table.page, table.selected
    (0, -1)
    """

    _esm = _ESM
    _css = _CSS

    columns = traitlets.List(traitlets.Unicode()).tag(sync=True)
    rows = traitlets.List(traitlets.List()).tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    caption = traitlets.Unicode("").tag(sync=True)
    sortable = traitlets.Bool(True).tag(sync=True)
    page_size = traitlets.Int(20).tag(sync=True)
    # what the browser sends (and the owner may set)
    sort_by = traitlets.Unicode("").tag(sync=True)
    descending = traitlets.Bool(False).tag(sync=True)
    page = traitlets.Int(0).tag(sync=True)
    selected = traitlets.Int(-1).tag(sync=True)

    def to_html(self) -> str:
        """The page as a static HTML table (the saved notebook's fallback)."""
        return page_html(self.columns, self.rows, self.caption)


def page_html(columns: Sequence[str], rows: Sequence[Sequence[object]], caption: str = "") -> str:
    """A static HTML table of one page, every cell escaped.

    Examples
    --------
    >>> page_html(["a"], [["<b>"]])
    '<table><thead><tr><th>a</th></tr></thead><tbody><tr><td>&lt;b&gt;</td></tr></tbody></table>'
    """
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    cap = f"<p>{html.escape(caption)}</p>" if caption else ""
    return f"{cap}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
