"""Every example notebook runs top to bottom; its checks, all in its last cell, pass.

The notebooks are tutorials: the cells a person reads show results, and the
checks of those results sit together at the end (tagged ``checks``), so a
broken promise fails CI without cluttering the lesson.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
NOTEBOOKS = [*sorted((ROOT / "notebooks").glob("*.ipynb")), ROOT / "eventkit" / "report.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_its_checks_pass(path: Path, tmp_path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        f"{path.name} is committed with outputs: clear them")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "time.sleep" not in code and "while " not in code, (
        f"{path.name} busy-waits in a cell: use wait_until")
    private = re.findall(r"\._[a-z]\w*|\bimport _\w+|\bfrom [\w.]*\._\w+", code)
    assert not private, f"{path.name} calls private names ({private}): add a public way"
    before = set(Path(tempfile.gettempdir()).glob("rides-store-*"))
    NotebookClient(nb, timeout=300, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    saved = tmp_path / path.name
    nbformat.write(nb, saved)
    assert saved.stat().st_size < 5 * 1024 * 1024  # a saved notebook stays small
    assert set(Path(tempfile.gettempdir()).glob("rides-store-*")) == before, (
        f"{path.name} left a store in the temporary folder")
    cells = [c for c in nb.cells if c.cell_type == "code"]
    if path.parent.name == "notebooks":  # the tutorials (the report notebook checks nothing)
        *lesson, last = cells
        assert not [c.source for c in lesson if "assert " in c.source], (
            f"{path.name}: checks belong in the last cell")
        assert "checks" in last.metadata.get("tags", []) and last.source.count("assert ") >= 4
        assert not [o for o in last.get("outputs", []) if o.output_type == "error"]
