"""The two commands a new user runs first: ``eventkit demo`` and ``eventkit serve``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import eventkit as ek
from tests.eventually import eventually

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "eventkit.cli"]


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _gone(pid: int) -> bool:
    eventually(lambda: not _alive(pid), 5.0, pause=0.05)
    return True


def test_demo_runs_offline_and_writes_a_page(tmp_path):
    t = time.perf_counter()
    out = subprocess.run([*CLI, "demo", "--out", str(tmp_path / "demo")], capture_output=True,
                         text=True, timeout=120, check=True)
    assert time.perf_counter() - t < 60
    text = out.stdout
    published = int(re.search(r"published ([\d,]+) sample", text).group(1).replace(",", ""))
    read = int(re.search(r"([\d,]+) events, ([\d,]+) entities", text).group(1).replace(",", ""))
    assert published == read > 50_000
    assert re.search(r"read in [\d.]+ s: [\d,]+ events/s", text)
    assert "trip_completed" in text and "malformed" in text
    page = tmp_path / "demo" / "index.html"
    assert str(page.resolve()) in text
    html = page.read_text()
    assert html.count("<svg") == 3
    fares = html[html.index("Fares by city"):]
    assert ">fare (EUR)</text>" in fares and ">fare (PLN)</text>" in fares  # one axis per currency
    assert ">fare</text>" not in fares
    assert "<script" not in html  # self-contained: no JavaScript, no network


def _serve(*more: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([*CLI, "serve", "--port", "-1", *more], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"(nats://\S+)", line)
    assert match, line
    return proc, match.group(1)


def test_serve_prints_a_url_that_works_and_ctrl_c_stops_everything():
    proc, url = _serve()
    with proc:
        with ek.connect(url) as conn:
            assert conn.streams().height == 0
        servers = _children(proc.pid)
        assert len(servers) == 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        assert _gone(servers[0])


def test_serve_loads_the_sample_in_a_payload_format():
    proc, url = _serve("--sample", "--format", "protobuf")
    with proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "Ctrl-C stops it."
        line = proc.stdout.readline()
        assert "sample events into stream 'RIDES' as protobuf" in line, line
        with ek.connect(url) as conn:
            events = conn.read("RIDES", progress=False, registry=ek.SchemaRegistry(conn))
            assert events.summary().malformed < 100  # the sample's few malformed messages
            trips = events.of_type("trip_completed")
            assert trips.height > 1000 and trips.get_column("fare").null_count() < 100
            assert sorted(ek.SchemaRegistry(conn).to_polars().get_column("type").unique()) == \
                sorted(events.types)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0


def test_a_stopped_server_leaves_its_store_and_no_temporary_files(tmp_path):
    store = tmp_path / "store"
    server = ek.EmbeddedServer(store)
    with server, ek.connect(server.url) as conn:
        conn.create_stream("KEEP", ["keep.>"])
        work = server._work
        assert work.exists()
    assert not work.exists()  # ports file, log, config: gone
    assert any(store.rglob("*"))  # the store given stays
    with server, ek.connect(server.url) as conn:  # and serves again, from the same store
        assert conn.stream("KEEP").name == "KEEP"
    owned = ek.EmbeddedServer()
    with owned:
        temporary = owned.store_dir
    assert not temporary.exists()


def test_a_server_left_running_stops_when_python_exits():
    """As a notebook kernel shutting down with a server open: no process, no files left."""
    out = subprocess.run(
        [sys.executable, "-c", "import eventkit as ek; s = ek.EmbeddedServer().start(); "
         "print(s.pid, s._work, flush=True)"], capture_output=True, text=True, timeout=60,
        check=True)
    pid, work = out.stdout.split()
    assert _gone(int(pid))
    assert not Path(work).exists()


def test_interrupting_the_process_group_leaves_the_server_running():
    """Jupyter interrupts a kernel with SIGINT to its whole process group."""
    code = ("import signal, sys, eventkit as ek; signal.signal(signal.SIGINT, signal.SIG_IGN); "
            "s = ek.EmbeddedServer().start(); print(s.url, flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    with proc:
        assert proc.stdout is not None and proc.stdin is not None
        url = proc.stdout.readline().strip()
        server = _children(proc.pid)[0]
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.5)
        assert _alive(server)
        with ek.connect(url) as conn:
            assert conn.streams().height == 0
        proc.stdin.close()  # the kernel goes: its server with it
        assert proc.wait(20) == 0
        assert _gone(server)


def test_a_killed_serve_takes_its_server_with_it():
    proc, _ = _serve()
    with proc:
        servers = _children(proc.pid)
        assert len(servers) == 1 and _alive(servers[0])
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert _gone(servers[0]), "nats-server outlived its killed parent"


def test_ctrl_c_during_sync_stops_at_once_with_one_line_and_a_resume_loses_nothing(
        server, tmp_path):
    import random

    n = 300_000
    with ek.connect(server.url) as conn:
        conn.create_stream("CTRLC", ["ctrlc.>"])
        for lo in range(0, n, 100_000):
            conn.publish_many([f"ctrlc.t{i % 4}" for i in range(lo, lo + 100_000)],
                              [b'{"type":"t%d","key":"k%d","n":%d}' % (i % 4, i % 97, i)
                               for i in range(lo, lo + 100_000)])
        store_dir = tmp_path / "store"
        argv = [*CLI, "sync", "--server", server.url, "--stream", "CTRLC", "--store",
                str(store_dir), "--batch", "10000", "--no-progress"]
        rng = random.Random(7)
        interrupted = 0
        for _ in range(3):  # Ctrl-C at a random moment of three syncs, each resuming
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env={**os.environ, "NO_COLOR": "1"})
            held = ek.Store(store_dir).last_seq if store_dir.exists() else 0
            deadline = time.monotonic() + 60
            while proc.poll() is None and (
                    not store_dir.exists() or ek.Store(store_dir).last_seq == held):
                assert time.monotonic() < deadline, "the sync never stored a batch"
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.3))
            proc.send_signal(signal.SIGINT)
            sent = time.monotonic()
            out, err = proc.communicate(timeout=30)
            took = time.monotonic() - sent
            if proc.returncode == 0:  # it had finished before the signal came
                break
            interrupted += 1
            assert proc.returncode == 130, err.decode()
            assert took < 1.0, f"Ctrl-C took {took:.1f} s to stop the sync"
            assert err.decode().strip() == "eventkit sync: interrupted"
            assert b"Traceback" not in out + err
            assert conn.stream("CTRLC").consumers == 0  # its consumer went with it
        assert interrupted >= 1
        store = ek.Store(store_dir)
        store.sync(conn, progress=False)
        seqs = store.scan().select("seq").collect()["seq"]
        assert seqs.to_list() == list(range(1, n + 1))
        _loop_delete(conn, "CTRLC")


def _loop_delete(conn: ek.Connection, stream: str) -> None:
    from eventkit.source import _loop

    _loop.run(conn.jetstream.delete_stream(stream))
