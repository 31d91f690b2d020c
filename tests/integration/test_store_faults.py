"""The local store under faults: a killed sync, a killed server, a lost leader, lost messages.

Each test checks the store against the stream exactly: every message once,
in sequence order, with its bytes, and nothing else.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow.compute as pc
import pytest

import eventkit as ek
from eventkit.source import _loop

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _events(n: int, *, start: int = 0, types: int = 5) -> tuple[list[str], list[bytes]]:
    subjects = [f"ev.t{(start + i) % types}" for i in range(n)]
    payloads = [
        b'{"type":"t%d","key":"k%d","event_time":"2026-11-01T12:00:00Z","n":%d,"pad":"%s"}'
        % ((start + i) % types, (start + i) % 997, start + i, b"x" * ((start + i) % 50))
        for i in range(n)
    ]
    return subjects, payloads


def _publish(conn: ek.Connection, stream: str, n: int, *, start: int = 0) -> None:
    for lo in range(0, n, 100_000):
        subjects, payloads = _events(min(100_000, n - lo), start=start + lo)
        conn.publish_many(subjects, payloads)


def _api(conn: ek.Connection, op: str, body: dict | None = None) -> dict:
    deadline = time.monotonic() + 30
    while True:  # a cluster busy replicating or electing may not answer at once
        try:
            return _loop.run(conn.jetstream.api(op, body))
        except ek.ConnectionFailedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _ahead(store: ek.Store) -> int:
    """Rows the type tables hold past the envelope's last commit (a sync killed in between)."""
    from deltalake import DeltaTable

    types = store.path / "types"
    if not types.is_dir():
        return 0
    return sum(DeltaTable(str(p)).to_pyarrow_dataset().count_rows(
        filter=pc.field("seq") > store.last_seq) for p in types.iterdir())


def _consistent(store: ek.Store) -> None:
    """Every sequence once, from 1 to the last commit, in the envelope and the type tables."""
    seqs = store.scan().select("seq").collect()["seq"]
    assert seqs.to_list() == list(range(1, store.last_seq + 1))
    typed = pl.concat([store.of_type(t).select("seq").collect() for t in store.types]
                      or [pl.DataFrame(schema={"seq": pl.UInt64})])
    assert typed["seq"].sort().to_list() == seqs.to_list()
    assert len(store) == len(seqs) == sum(store.type_counts().values())


def _assert_exact(store: ek.Store, conn: ek.Connection, stream: str) -> None:
    """The store holds exactly the stream's messages, each once, in order, byte for byte."""
    got = store.scan().select("seq", "subject", "data").collect()
    want = conn.read(stream, progress=False).to_polars().select("seq", "subject", "data")
    assert got["seq"].is_unique().all()
    assert got.equals(want)
    # and the Delta table, read by another reader, says the same
    by_delta = pl.scan_delta(str(store.path / "envelope")).select("seq").sort("seq").collect()
    assert by_delta["seq"].to_list() == got["seq"].to_list()
    _consistent(store)
    report = store.integrity(conn)
    assert report.ok and report.missing == 0 and report.behind == 0, str(report)


# -- 1. the syncing process killed with SIGKILL, again and again ----------------------
def _commits(path: Path) -> int:
    """Envelope commits so far."""
    return len(list((path / "envelope" / "_delta_log").glob("*.json")))


def test_sync_killed_at_random_moments_resumes_without_loss_or_duplicates(fresh_server,
                                                                           tmp_path):
    rng = random.Random(20261101)
    stream, published = "EV", 300_000
    path = tmp_path / "store"
    with ek.connect(fresh_server.url) as conn:
        conn.create_stream(stream, ["ev.>"])
        _publish(conn, stream, published)
        cmd = [sys.executable, "-m", "eventkit.cli", "sync", "--server", fresh_server.url,
               "--stream", stream, "--store", str(path), "--no-progress", "--batch", "4000"]
        kills = ahead = 0
        while kills < 24:
            before = _commits(path)
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if kills % 2:  # any moment, start-up included
                time.sleep(rng.uniform(0.05, 1.0))
            else:  # while batches are being written: after its first commit
                deadline = time.monotonic() + 10
                while (_commits(path) == before and proc.poll() is None
                       and time.monotonic() < deadline):
                    time.sleep(0.002)
                time.sleep(rng.uniform(0.0, 0.12))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert proc.stderr is not None
            err = proc.stderr.read().decode()
            proc.stderr.close()
            assert proc.returncode in (0, -signal.SIGKILL), err
            if proc.returncode == 0:  # it caught up before the kill: give it more to do
                _publish(conn, stream, 30_000, start=published)
                published += 30_000
                continue
            kills += 1
            # readable after every kill: every sequence once, from 1 to the last commit
            store = ek.Store(path)
            ahead += bool(_ahead(store))
            _consistent(store)
        final = ek.Store(path).sync(conn, stream, progress=False)
        assert final.last_seq == published
        _assert_exact(ek.Store(path), conn, stream)
    print(f"\n{kills} kills; {ahead} left type rows past the envelope's commit (unseen, trimmed)")


# -- 2. the server killed and restarted on its store, mid-sync -------------------------
def test_server_killed_and_restarted_mid_sync(fresh_server, tmp_path):
    stream = "EV"
    with ek.connect(fresh_server.url) as conn:
        conn.create_stream(stream, ["ev.>"])
        _publish(conn, stream, 200_000)
        store = ek.Store(tmp_path / "store")
        restarts = []

        def restart() -> None:
            for delay in (0.3, 0.4):
                time.sleep(delay)
                fresh_server.kill()
                fresh_server.start()
                restarts.append(store.last_seq)

        killer = threading.Thread(target=restart)
        killer.start()
        result = store.sync(conn, stream, progress=False, batch=5_000)
        killer.join()
        assert len(restarts) == 2 and restarts[0] < 200_000  # it was mid-sync
        assert result.last_seq == 200_000 and result.gaps == 0
        _assert_exact(store, conn, stream)


# -- 3. a 3-node cluster, the stream leader killed mid-sync -----------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def cluster(tmp_path) -> Iterator[list[ek.EmbeddedServer]]:
    """Three JetStream nodes on loopback, routes configured from the start."""
    ports = [_free_port() for _ in range(3)]
    routes = ", ".join(f"nats-route://127.0.0.1:{p}" for p in ports)
    nodes = [
        ek.EmbeddedServer(tmp_path / f"n{i}", config=(
            f"server_name: n{i}\n"
            f'cluster {{ name: eventkit, listen: "127.0.0.1:{ports[i]}", routes: [{routes}] }}\n'
        ))
        for i in range(3)
    ]
    starting = [threading.Thread(target=n.start) for n in nodes]  # they wait for each other
    for t in starting:
        t.start()
    for t in starting:
        t.join()
    try:
        assert all(n.running for n in nodes)
        yield nodes
    finally:
        for n in nodes:
            n.stop()


def test_stream_leader_killed_mid_sync_in_a_cluster(cluster, tmp_path):
    stream = "EV"
    with ek.connect(",".join(n.url for n in cluster)) as conn:
        deadline = time.monotonic() + 10
        while True:
            try:
                conn.create_stream(stream, ["ev.>"], num_replicas=3)
                break
            except ek.EventkitError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        _publish(conn, stream, 150_000)
        leader = _api(conn, f"STREAM.INFO.{stream}")["cluster"]["leader"]
        node = cluster[int(leader[1:])]
        store = ek.Store(tmp_path / "store")
        killed = []

        def kill_leader() -> None:
            time.sleep(0.3)
            killed.append(store.last_seq)
            node.kill()

        killer = threading.Thread(target=kill_leader)
        killer.start()
        began = time.monotonic()
        result = store.sync(conn, stream, progress=False, batch=5_000)
        killer.join()
        assert killed and killed[0] < 150_000, "the leader died after the sync"
        assert result.last_seq == 150_000 and result.gaps == 0
        new_leader = _api(conn, f"STREAM.INFO.{stream}")["cluster"]["leader"]
        assert new_leader != leader
        _assert_exact(store, conn, stream)
        print(f"\nsync through a leader change: {time.monotonic() - began:.1f} s")


# -- 4. messages deleted, purged, or dropped by a retention limit ----------------------
def test_deleted_purged_and_expired_messages_are_gaps_not_errors(fresh_server, tmp_path):
    with ek.connect(fresh_server.url) as conn:
        # a stream that keeps its last 1000 messages: the first 500 are gone before any sync
        conn.create_stream("CAPPED", ["capped.>"], max_msgs=1000)
        subjects, payloads = _events(1500)
        conn.publish_many([s.replace("ev.", "capped.") for s in subjects], payloads)
        capped = ek.Store(tmp_path / "capped")
        result = capped.sync(conn, "CAPPED", progress=False)
        assert (result.events, result.gaps, result.last_seq) == (1000, 500, 1500)
        assert capped.gaps().rows() == [(1, 500, 500, "purged or expired")]
        # more arrive, the oldest synced ones expire: the store keeps them
        conn.publish_many([s.replace("ev.", "capped.") for s in subjects[:300]],
                          payloads[:300])
        capped.sync(conn, progress=False)
        report = capped.integrity(conn)
        assert (report.store_events, report.expected, report.matched, report.kept,
                report.missing, report.behind) == (1300, 1000, 1000, 300, 0, 0)

        conn.create_stream("EV", ["ev.>"])
        _publish(conn, "EV", 100)
        _api(conn, "STREAM.PURGE.EV", {"seq": 6})            # 1..5 purged
        for seq in (10, 11, 12, 40):
            _api(conn, "STREAM.MSG.DELETE.EV", {"seq": seq})
        store = ek.Store(tmp_path / "ev")
        first = store.sync(conn, "EV", progress=False)
        assert (first.events, first.gaps) == (100 - 5 - 4, 9)
        # deleted after the sync: the store keeps them; deleted before the next: gaps
        _api(conn, "STREAM.MSG.DELETE.EV", {"seq": 50})
        _publish(conn, "EV", 50, start=100)
        for seq in (120, 149, 150):                          # 149, 150: the stream's end
            _api(conn, "STREAM.MSG.DELETE.EV", {"seq": seq})
        second = store.sync(conn, progress=False)
        assert (second.events, second.gaps, second.last_seq) == (47, 3, 150)
        assert store.gaps().rows() == [
            (1, 5, 5, "purged or expired"), (10, 12, 3, "deleted"), (40, 40, 1, "deleted"),
            (120, 120, 1, "deleted"), (149, 150, 2, "deleted"),
        ]
        report = store.integrity(conn)
        assert report.gaps.equals(store.gaps())
        assert (report.stream_first_seq, report.stream_last_seq, report.stream_messages,
                report.stream_deleted) == (6, 150, 137, 8)
        assert (report.expected, report.matched, report.missing, report.kept,
                report.behind) == (137, 137, 0, 1, 0)
        assert report.ok
        # a re-sync finds nothing new and records nothing twice
        assert store.sync(conn, progress=False).events == 0
        assert store.gaps().height == 5
        got = store.scan().select("seq").collect()["seq"].to_list()
        assert got == [s for s in range(1, 151)
                       if s > 5 and s not in (10, 11, 12, 40, 120, 149, 150)]
    assert os.listdir(tmp_path / "ev" / "gaps" / "_delta_log")
