"""Every command of the ``eventkit`` CLI as a user runs it: a subprocess against a real server.

Each test checks the exit code, what is on stdout and stderr (one line for a
mistake, no traceback, no terminal colours when not on a terminal, never a
secret) and the files written, against the sample history read with nats-py
and polars as the oracle.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator

import polars as pl
import pytest

import eventkit as ek

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "eventkit.cli"]
PASSWORD = "s3cret-cli-pw-1"
ANSI = re.compile(r"\x1b\[")


@pytest.fixture(scope="module")
def secured() -> Iterator[tuple[ek.EmbeddedServer, ek.StreamInfo]]:
    """A server that wants a password, holding the sample history in stream RIDES."""
    from eventkit.sample.publish import publish

    config = f'authorization {{ user: "cli", password: "{PASSWORD}" }}\n'
    with ek.EmbeddedServer(config=config) as server:
        with ek.connect(server.url, user="cli", password=PASSWORD) as conn:
            info = publish(conn)
        yield server, info


@pytest.fixture(scope="module")
def sample(secured) -> pl.DataFrame:
    server, _ = secured
    with ek.connect(server.url, user="cli", password=PASSWORD) as conn:
        return conn.read("RIDES", progress=False).wide()


def run(*argv: str, server: ek.EmbeddedServer | None = None, ok: bool = True,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``eventkit ARGV`` with the server's URL and credentials in the environment."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")}
    if server is not None:
        environ |= {"NATS_URL": server.url, "NATS_USER": "cli", "NATS_PASSWORD": PASSWORD}
    environ |= env or {}
    done = subprocess.run([*CLI, *argv], capture_output=True, text=True, timeout=120,
                          env=environ)
    out = done.stdout + done.stderr
    assert "Traceback" not in out, out
    assert not ANSI.search(out), "terminal colours written to a pipe"
    assert PASSWORD not in out
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def one_line_error(done: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert done.returncode == code, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_version_and_help_are_plain_text():
    from importlib.metadata import version

    assert run("--version").stdout.strip() == f"eventkit {version('eventkit')}"
    top = run("--help").stdout
    for command in ("demo", "serve", "streams", "info", "view", "export", "sync", "report",
                    "schema"):
        assert command in top
        text = run(command, "--help").stdout
        assert "``" not in text and ":meth:" not in text  # no reST in help
        assert "example" in text
    for command in ("infer", "register", "check", "list"):
        assert "example" in run("schema", command, "--help").stdout


def test_streams_lists_counts_and_json(secured):
    server, info = secured
    table = run("streams", server=server).stdout
    assert "RIDES" in table and f"{info.messages:,}".replace(",", "") in table.replace(",", "")
    listed = json.loads(run("streams", "--json", server=server).stdout)
    assert [(s["name"], s["messages"], s["last_seq"]) for s in listed] == [
        ("RIDES", info.messages, info.last_seq)]


def test_info_shows_config_limits_and_consumers_with_their_lag(secured):
    server, info = secured
    with ek.connect(server.url, user="cli", password=PASSWORD) as conn:
        from eventkit.source import _loop

        _loop.run(conn.jetstream.api("CONSUMER.CREATE.RIDES.billing", {
            "stream_name": "RIDES", "config": {"durable_name": "billing",
                                               "ack_policy": "explicit",
                                               "filter_subject": "rides.*.trip_completed"}}))
    try:
        facts = json.loads(run("info", "RIDES", "--json", server=server).stdout)
        assert facts["messages"] == info.messages and facts["last_seq"] == info.last_seq
        assert facts["subjects"] == ["rides.>"] and facts["storage"] == "file"
        [billing] = [c for c in facts["consumer_list"] if c["name"] == "billing"]
        trips = sum(1 for s in _subjects(server) if s.endswith(".trip_completed"))
        assert billing["durable"] and billing["pending"] == trips  # nothing delivered yet
        assert billing["filter"] == "rides.*.trip_completed"
        text = run("info", "RIDES", server=server).stdout
        assert "retention" in text and "billing" in text
    finally:
        with ek.connect(server.url, user="cli", password=PASSWORD) as conn:
            _loop.run(conn.jetstream.api("CONSUMER.DELETE.RIDES.billing"))


def _subjects(server: ek.EmbeddedServer) -> list[str]:
    with ek.connect(server.url, user="cli", password=PASSWORD) as conn:
        return conn.read("RIDES", progress=False).to_polars()["subject"].to_list()


def test_view_pages_and_filters_like_nats_stream_view(secured, sample):
    server, _ = secured
    first = run("view", "RIDES", "--limit", "5", "--json", server=server).stdout.splitlines()
    assert [json.loads(line)["seq"] for line in first] == sample["seq"].head(5).to_list()
    rows = run("view", "RIDES", "--type", "trip_completed", "--where", "fare > 50",
               "--limit", "0", "--json", server=server).stdout.splitlines()
    want = sample.filter((pl.col("type") == "trip_completed") & (pl.col("fare") > 50))
    assert [json.loads(line)["seq"] for line in rows] == want["seq"].to_list()
    assert all(json.loads(line)["fare"] > 50 for line in rows)
    key = sample["key"][100]
    rows = run("view", "RIDES", "--key", key, "--limit", "0", "--json",
               server=server).stdout.splitlines()
    assert [json.loads(line)["seq"] for line in rows] == \
        sample.filter(pl.col("key") == key)["seq"].to_list()
    table = run("view", "RIDES", "--start", "10", "--limit", "3", server=server).stdout
    assert re.search(r"\b10\b", table) and re.search(r"\b12\b", table)


def test_export_writes_each_format_with_nothing_lost(secured, sample, tmp_path):
    server, _ = secured
    trips = sample.filter(pl.col("type") == "trip_completed")
    for suffix in ("parquet", "csv", "jsonl"):
        out = tmp_path / f"trips.{suffix}"
        said = run("export", "RIDES", "--type", "trip_completed", "--out", str(out),
                   server=server).stdout
        assert f"{trips.height:,} events" in said and out.exists()
        back = (pl.read_parquet(out) if suffix == "parquet" else
                pl.read_csv(out) if suffix == "csv" else pl.read_ndjson(out))
        assert back["seq"].to_list() == trips["seq"].to_list()
        assert back["fare"].cast(pl.Float64).to_list() == trips["fare"].to_list()
        if suffix != "parquet":  # the payload as text (base64 where it is not), exactly
            import base64

            assert [base64.b64decode(t) if how == "base64" else t.encode()
                    for t, how in zip(back["data"], back["data_encoding"], strict=True)] \
                == trips["data"].to_list()
        else:
            assert back["data"].to_list() == trips["data"].to_list()


def test_mistakes_get_one_clear_line_and_exit_2(secured, tmp_path):
    server, _ = secured
    line = one_line_error(run("view", "NOSUCH", server=server, ok=False))
    assert "NOSUCH" in line and "not found" in line
    line = one_line_error(run("view", "RIDES", "--where", "fare >", server=server, ok=False))
    assert "needs a value" in line
    line = one_line_error(run("streams", server=server, ok=False,
                              env={"NATS_PASSWORD": "wrong-password-9"}))
    assert server.url.split("//")[1] in line and "wrong-password-9" not in line
    line = one_line_error(run("schema", "check", "--stream", "RIDES", "--dir",
                              str(tmp_path / "nonexistent"), server=server, ok=False))
    assert "no schema directory" in line
    line = one_line_error(run("report", "--server", server.url, "--stream", "RIDES",
                              "--since", "banana", ok=False,
                              env={"NATS_USER": "cli", "NATS_PASSWORD": PASSWORD}))
    assert "banana" in line


def test_report_refuses_an_empty_range_before_starting_a_kernel(secured):
    import time

    server, _ = secured
    began = time.monotonic()
    line = one_line_error(run("report", "--server", server.url, "--stream", "RIDES",
                              "--start", "2099-01-01T00:00:00Z", ok=False,
                              env={"NATS_USER": "cli", "NATS_PASSWORD": PASSWORD}))
    assert "no events from 2099-01-01" in line and "last event" in line
    line = one_line_error(run("report", "--server", server.url, "--stream", "RIDES",
                              "--subjects", "rides.pariss.>", ok=False,
                              env={"NATS_USER": "cli", "NATS_PASSWORD": PASSWORD}))
    assert "no subject in stream 'RIDES'" in line and "'rides.pariss.>'" in line
    assert time.monotonic() - began < 10  # no kernel was started


def test_serve_on_a_busy_port_says_so_and_leaves_nothing_behind(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_error(run("serve", "--port", str(port), ok=False,
                                  env={"TMPDIR": str(tmp_path)}))
        assert "address already in use" in line and str(port) in line
        assert list(tmp_path.iterdir()) == []  # its temporary directory went with it


def test_report_writes_its_page_and_nothing_on_stderr(secured, tmp_path):
    server, info = secured
    out = tmp_path / "report.html"
    done = run("report", "--server", server.url, "--stream", "RIDES", "--out", str(out),
               env={"NATS_USER": "cli", "NATS_PASSWORD": PASSWORD})
    assert done.stderr == ""  # no kernel transport warning, no colours
    assert f"sequences 1 to {info.last_seq}" in done.stdout
    page = out.read_text()
    assert "<script" not in page.replace('<script type="application/json" id="eventkit-pin">', "")
    assert PASSWORD not in page


def test_the_readme_schema_flow_works_on_the_sample_and_advice_is_for_the_shell(secured,
                                                                                tmp_path):
    server, _ = secured
    proposals, registry = tmp_path / "schemas", tmp_path / "registry"
    said = run("schema", "infer", "--stream", "RIDES", "--out", str(proposals),
               server=server).stdout
    assert "payment_captured: the history changed it incompatibly" in said
    said = run("schema", "register", "--from", str(proposals), "--dir", str(registry)).stdout
    assert "payment_captured: version 2" in said
    checked = run("schema", "check", "--stream", "RIDES", "--dir", str(registry),
                  server=server, ok=False)
    assert checked.returncode == 1 and "registered types checked" in checked.stdout
    # without the directory's word for it, v2 is refused with advice a shell can run
    (proposals / "payment_captured" / "config.json").unlink()
    line = one_line_error(run("schema", "register", "--from", str(proposals), "--dir",
                              str(tmp_path / "strict"), ok=False))
    assert "--compatibility NONE" in line and 'compatibility="NONE"' not in line
    assert f"eventkit schema register payment_captured {proposals}" in line
