"""The example notebook executed headless and saved with its widget state: small, and no secret.

The notebook connects with a password here (the server requires one): the
saved file must not contain it anywhere, in outputs or in widget state.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.browser.conftest import ARTIFACTS, NOTEBOOKS, Lab

pytestmark = pytest.mark.browser

LIMIT = 5 * 1024 * 1024
USER = "analyst"


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The notebook executed with a password-protected server, saved with widget state."""
    from nbclient import NotebookClient

    tmp_path = tmp_path_factory.mktemp("executed")
    password = "pw-" + secrets.token_hex(12)
    os.environ["EK_NOTEBOOK_PASSWORD"] = password  # the kernel inherits it; not in the cells
    nb = nbformat.read(NOTEBOOKS / "01_explore.ipynb", as_version=4)
    setup = next(c for c in nb.cells if "setup" in c.metadata.get("tags", []))
    plain = ("server = ek.EmbeddedServer().start()", "conn = ek.connect(server.url)")
    assert all(line in setup.source for line in plain), "the setup cell changed: update me"
    setup.source = setup.source.replace(plain[0], (
        "import os\n"
        "password = os.environ['EK_NOTEBOOK_PASSWORD']\n"
        f"auth = 'authorization {{ user: \"{USER}\", password: \"' + password + '\" }}'\n"
        "server = ek.EmbeddedServer(config=auth).start()")).replace(plain[1], (
        f"conn = ek.connect(server.url.replace('nats://', f'nats://{USER}:{{password}}@'))"))

    try:
        NotebookClient(nb, timeout=180, kernel_name="python3", store_widget_state=True,
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        del os.environ["EK_NOTEBOOK_PASSWORD"]
    saved = tmp_path / "01_explore.ipynb"
    nbformat.write(nb, saved)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(saved, ARTIFACTS / "01_explore.executed.ipynb")
    return saved, password


def test_saved_notebook_is_small_and_keeps_no_secret(executed: tuple[Path, str]) -> None:
    saved, password = executed
    nb = nbformat.read(saved, as_version=4)
    text = saved.read_text()

    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors[0]
    assert saved.stat().st_size < LIMIT, f"{saved.stat().st_size:,} bytes"
    assert password not in text
    outputs = json.dumps([c.get("outputs", []) for c in nb.cells]) + json.dumps(nb.metadata)
    assert f"{USER}:" not in outputs and USER not in outputs  # the user is not shown either

    state = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    charts = [m for m in state.values() if "spec" in m["state"] and "_esm" in m["state"]]
    assert len(charts) == 4, "one chart widget per eventkit widget"
    assert all("esm.sh" not in m["state"]["_esm"] for m in charts)  # offline: no CDN
    classes = json.dumps([m["state"].get("_dom_classes") for m in state.values()])
    for name in ("explorer", "timetravel", "replay", "livetail"):
        assert f"eventkit-{name}" in classes

    # every widget output is followed by its static view, an output of its own (a viewer
    # with the saved widget state picks the widget view and drops the rest of that output)
    pairs = [(o, outputs[i + 1] if i + 1 < len(outputs) else {})
             for outputs in (c.get("outputs", []) for c in nb.cells)
             for i, o in enumerate(outputs)
             if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(pairs) == 4
    assert all("text/html" not in view["data"] for view, _ in pairs)
    assert all("static view" in static.get("data", {}).get("text/html", "")
               for _, static in pairs)
    # plain charts are static SVG (drawn offline), never the CDN-loading HTML renderer
    svgs = [o for c in nb.cells for o in c.get("outputs", []) if "image/svg+xml" in
            o.get("data", {})]
    assert len(svgs) >= 4
    assert "cdn.jsdelivr" not in text


def test_saved_notebook_opened_without_a_kernel_shows_static_views(
        executed: tuple[Path, str], lab: Lab, page: object) -> None:
    """Opened in JupyterLab and not run, each widget shows its static view (chart picture,
    status, first page of its table)."""
    from playwright.sync_api import expect

    shutil.copy(executed[0], lab.root / "saved.ipynb")
    page.goto(lab.open_url("saved.ipynb"))  # type: ignore[attr-defined]
    views = page.locator(".eventkit-static")  # type: ignore[attr-defined]
    expect(views).to_have_count(4, timeout=60_000)
    explorer = views.first
    expect(explorer).to_contain_text(
        "eventkit Explorer, on event time (when it happened) (static view")
    expect(explorer.locator("img[alt='chart']")).to_be_visible()
    expect(explorer.locator("table tbody tr").first).to_contain_text("ride_requested")
    expect(views.nth(1)).to_contain_text(re.compile(r"At 2026-11-0\d .* entities"))
    views.first.scroll_into_view_if_needed()
    views.first.screenshot(path=str(ARTIFACTS / "08-saved-static-explorer.png"))
    views.nth(1).screenshot(path=str(ARTIFACTS / "09-saved-static-timetravel.png"))


def test_nbconvert_html_shows_the_static_views_offline(
        executed: tuple[Path, str], tmp_path: Path, page: object) -> None:
    """``jupyter nbconvert --to html`` on the saved notebook (widget state included), opened
    in Chromium with no network: each widget shows its picture and table, not a blank cell
    waiting for a widget manager from the internet."""
    from playwright.sync_api import expect

    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html",
                    "--output-dir", str(tmp_path), str(executed[0])],
                   check=True, capture_output=True, timeout=120)
    converted = tmp_path / "01_explore.html"
    text = converted.read_text()
    assert "application/vnd.jupyter.widget-state+json" in text  # the state is there
    context = page.context  # type: ignore[attr-defined]
    context.set_offline(True)
    try:
        page.goto(converted.as_uri())  # type: ignore[attr-defined]
        views = page.locator(".eventkit-static")  # type: ignore[attr-defined]
        expect(views).to_have_count(4, timeout=30_000)
        for i in range(4):
            expect(views.nth(i)).to_be_visible()
        pictures = page.locator(".eventkit-static img[alt='chart']")  # type: ignore
        expect(pictures).to_have_count(4)
        widths = [pictures.nth(i).evaluate("img => img.complete ? img.naturalWidth : 0")
                  for i in range(4)]
        # drawn pictures (the live tail's is its empty chart when it was shown: small)
        assert min(widths[:3]) > 600 and widths[3] > 0, widths
        expect(views.first).to_contain_text("eventkit Explorer")
        expect(views.first.locator("table tbody tr").first).to_contain_text("ride_requested")
        views.first.scroll_into_view_if_needed()
        views.first.screenshot(path=str(ARTIFACTS / "10-nbconvert-static-explorer.png"))
        page.screenshot(path=str(ARTIFACTS / "11-nbconvert-page.png"))  # type: ignore
    finally:
        context.set_offline(False)
