"""Reports: a parameterised notebook run on a stream, written as one self-contained HTML file.

A report runs a notebook (the shipped ``eventkit/report.ipynb`` or your
own) with parameters injected after its cell tagged ``parameters``, the way
papermill does, executes it in a fresh kernel, and writes the outputs (not
the code) into one HTML page: charts are inline SVG drawn offline, and the
page has no script, so it opens anywhere with no network and no kernel.

A report pins what it read: the stream, subjects, first and last sequence
and when it ran, inside the page. :func:`rerun` reads that pin and runs the
same notebook on the same range, so its numbers are identical.

Credentials never go into the notebook: the kernel connects with what the
environment holds (``NATS_*`` variables or a NATS context), like any client.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from eventkit.exceptions import ConfigurationError, EventkitError

__all__ = ["DEFAULT_NOTEBOOK", "report", "rerun"]

#: The report notebook that ships with eventkit (package data; copy it to start your own).
DEFAULT_NOTEBOOK = Path(str(resources.files("eventkit").joinpath("report.ipynb")))

_PIN = re.compile(r'<script type="application/json" id="eventkit-pin">(.*?)</script>', re.S)


def report(
    *, server: str, stream: str, subjects: str | Sequence[str] | None = None,
    start: int | str | None = None, end: int | str | None = None, since: str | None = None,
    out: str | os.PathLike[str] = "report.html", notebook: str | os.PathLike[str] | None = None,
    title: str | None = None, timeout: float = 600,
) -> Path:
    """Run the report notebook on ``stream`` and write ``out`` (a self-contained HTML page).

    Parameters
    ----------
    server
        The NATS URL (without credentials: they come from ``NATS_*`` or a context).
    stream, subjects, start, end
        What to read, as :meth:`eventkit.Connection.read` takes it.
    since
        A duration ago (``"24h"``), the same as ``start``.
    notebook
        A notebook with a cell tagged ``parameters``; the shipped report by default.
    """
    if since is not None and start is not None:
        raise ConfigurationError("give since= or start=, not both")
    if "@" in server.split("://", 1)[-1]:
        raise ConfigurationError(
            "put no credentials in the server URL of a report (they would be saved in it): "
            "set NATS_USER/NATS_PASSWORD, NATS_CREDS or a NATS context instead"
        )
    params: dict[str, Any] = {
        "server": server, "stream": stream,
        "subjects": [subjects] if isinstance(subjects, str) else list(subjects or []) or None,
        "start": since if since is not None else start, "end": end,
    }
    # before a kernel takes seconds to start
    _check_range(server, stream, params["subjects"] or [], params["start"], end)
    if title is not None:
        params["title"] = title
    return _run(Path(notebook) if notebook else DEFAULT_NOTEBOOK, params, Path(out), timeout)


def _check_range(server: str, stream: str, subjects: list[str], start: int | str | None,
                 end: int | str | None) -> None:
    """Refuse at once a range that cannot be read or holds nothing, saying why."""
    from eventkit._time import Instant, spoken_duration, to_position
    from eventkit.connection import connect

    lo, hi = (p.to_datetime() if isinstance(p, Instant) else p
              for p in (to_position(start, what="start"), to_position(end, what="end")))
    where = f"stream {stream!r} on {server}"
    with connect(server) as conn:
        info = conn.stream(stream)
        unmatched = [s for s in subjects if conn.subjects(stream, s).is_empty()]
    if subjects and len(unmatched) == len(subjects):
        raise ConfigurationError(
            f"no subject in {where} matches {', '.join(map(repr, unmatched))} (its subjects: "
            f"{', '.join(info.subjects)}); check the filter for a typo"
        )
    if not info.messages:
        raise ConfigurationError(f"{where} holds no events: nothing to report")
    if isinstance(lo, dt.datetime) and info.last_time is not None and info.last_time < lo:
        raise ConfigurationError(
            f"{where} has no events from {lo:%Y-%m-%d %H:%M:%S} UTC on: its last event is at "
            f"{info.last_time:%Y-%m-%d %H:%M:%S} UTC "
            f"({spoken_duration(lo - info.last_time)} before); give an earlier --since or --start"
        )
    if isinstance(hi, dt.datetime) and info.first_time is not None and hi < info.first_time:
        raise ConfigurationError(
            f"{where} has no events up to {hi:%Y-%m-%d %H:%M:%S} UTC: its first event is at "
            f"{info.first_time:%Y-%m-%d %H:%M:%S} UTC; give a later --end"
        )
    if isinstance(lo, int) and lo > info.last_seq:
        raise ConfigurationError(f"{where} ends at sequence {info.last_seq}, before {lo}")


def rerun(pinned: str | os.PathLike[str], *, out: str | os.PathLike[str] | None = None,
          server: str | None = None, timeout: float = 600) -> Path:
    """Run a report again on exactly the range it pinned (same stream, subjects, sequences)."""
    path = Path(pinned)
    pin = read_pin(path)
    params = {
        "server": server or pin["server"], "stream": pin["stream"],
        "subjects": pin["subjects"] or None, "start": pin["first_seq"], "end": pin["last_seq"],
    }
    target = Path(out) if out else path.with_name(path.stem + "-rerun.html")
    return _run(Path(pin["notebook"]), params, target, timeout)


def read_pin(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What a report read: stream, subjects, first/last sequence, when, from which notebook."""
    match = _PIN.search(Path(path).read_text())
    if not match:
        raise ConfigurationError(f"{path} is not an eventkit report (it has no pin)")
    return json.loads(html.unescape(match.group(1)))  # type: ignore[no-any-return]


def _run(notebook: Path, params: dict[str, Any], out: Path, timeout: float) -> Path:
    try:
        import nbformat
        from jupyter_client.manager import AsyncKernelManager
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
    except ImportError as exc:  # the core installs without the report extra
        from eventkit._deps import missing

        raise missing(exc.name or "nbclient", "eventkit report") from exc

    if not notebook.is_file():
        raise ConfigurationError(f"no report notebook at {notebook}")
    nb = nbformat.read(notebook, as_version=4)
    _inject(nb, params)
    # The kernel talks to us over Unix sockets (IPC), not plain TCP: nothing listens on
    # the network, and the kernel has no transport warning to print.
    sockets = tempfile.TemporaryDirectory(prefix="eventkit-kernel-")

    class Local(AsyncKernelManager):
        def __init__(self, **options: Any) -> None:
            super().__init__(transport="ipc", ip=str(Path(sockets.name) / "kernel"), **options)

    client = NotebookClient(nb, kernel_manager_class=Local, timeout=timeout,
                            kernel_name="python3",
                            resources={"metadata": {"path": str(notebook.parent)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        raise EventkitError(
            f"the report notebook {notebook.name} failed on stream {params['stream']!r} at "
            f"{params['server']}: {_last_line(str(exc))}"
        ) from None
    finally:
        sockets.cleanup()
    pin = _pin_from(nb)
    pin |= {"server": params["server"], "notebook": str(notebook.resolve()),
            "written_at": dt.datetime.now(dt.UTC).isoformat()}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_page(nb, pin))
    return out


def _inject(nb: Any, params: dict[str, Any]) -> None:
    import nbformat

    source = "# Parameters injected by eventkit report\n" + "\n".join(
        f"{name} = {value!r}" for name, value in params.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    cell.id = "injected-parameters"  # the same page for the same parameters
    at = next((i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])),
              None)
    if at is None:
        raise ConfigurationError("the report notebook has no cell tagged 'parameters'")
    nb.cells.insert(at + 1, cell)


def _pin_from(nb: Any) -> dict[str, Any]:
    """The ``pin`` the notebook displayed (taken out of the outputs: it goes in the page)."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "application/vnd.eventkit.pin+json" in data:
                cell.outputs.remove(output)
                return dict(data["application/vnd.eventkit.pin+json"])
    raise EventkitError(
        "the report notebook made no pin: display it with "
        "display({'application/vnd.eventkit.pin+json': pin}, raw=True)"
    )


def _page(nb: Any, pin: dict[str, Any]) -> str:
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = HTMLExporter(template_name="basic", exclude_input=True, exclude_anchor_links=True,
                            exclude_input_prompt=True, exclude_output_prompt=True)
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_cell_tags={"remove-from-report"}), enabled=True)
    body, _ = exporter.from_notebook_node(nb)
    body = re.sub(r"<script\b.*?</script>", "", body, flags=re.S)  # no script: opens anywhere
    title = html.escape(f"{pin['stream']} report")
    pin_json = html.escape(json.dumps(pin))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1000px;color:#222}}
pre{{background:#f6f6f6;padding:.8rem;overflow:auto}} table{{border-collapse:collapse}}
td,th{{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:left}}
.pin{{color:#666;font-size:.85rem}}</style></head>
<body>
{body}
<p class="pin">Pinned: stream {html.escape(pin['stream'])}, subjects
{html.escape(', '.join(pin['subjects']) or 'all')}, sequences {pin['first_seq']} to
{pin['last_seq']}, read {html.escape(pin['ran_at'])}. Rerun with
<code>eventkit report --pin this.html</code>.</p>
<script type="application/json" id="eventkit-pin">{pin_json}</script>
</body></html>
"""


def _last_line(text: str) -> str:
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)  # the kernel's colours
    lines = [line for line in text.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else text
    from eventkit import exceptions

    name, _, message = last.partition(": ")
    if name.rsplit(".", 1)[-1] in exceptions.__all__:  # our own errors speak plainly
        return message
    return last
