"""Run by .ci/run with a venv that has only the built wheel: eventkit as a user installs it.

Starts an embedded server with the sample (both from the wheel), runs
``eventkit report`` against it, and executes every example notebook given
on the command line, all from a directory outside the source tree.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

import eventkit as ek
from eventkit.sample.publish import publish

here = Path.cwd()
assert "site-packages" in ek.__file__, f"eventkit came from {ek.__file__}, not the wheel"
with ek.EmbeddedServer() as server:
    with ek.connect(server.url) as conn:
        publish(conn)
    out = here / "report.html"
    done = subprocess.run(["eventkit", "report", "--server", server.url, "--stream", "RIDES",
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and out.exists(), done.stderr
    assert done.stderr == "", done.stderr
    print(done.stdout.strip())
for path in map(Path, sys.argv[1:]):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(here)}}).execute()
    print(f"ran {path.name} with the wheel")
