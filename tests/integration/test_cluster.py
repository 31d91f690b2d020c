"""Reads against a 3-node cluster with a replica catching up, a server killed or in
lame-duck mode: complete, or an error saying where they stopped, never silently short."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator

import pytest

import eventkit as ek
from tests.eventually import eventually

from .cluster import Cluster
from .oracles import nats_py_get

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("cluster")).start()
    try:
        yield c
    finally:
        c.stop()


def refuses(port: int | None) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port or 0), timeout=1).close()
    except OSError:
        return True
    return False


def rows(events: ek.Events) -> list[tuple[int, str, bytes]]:
    env = events.to_polars()
    return list(zip(env["seq"], env["subject"], env["data"], strict=True))


def test_reads_while_a_replica_catches_up_are_never_short(cluster, tmp_path):
    payload = os.urandom(1000)
    with ek.connect(",".join(cluster.urls)) as conn:
        conn.create_stream("CATCH", ["catch.>"], num_replicas=3)
        conn.publish_many(["catch.a"] * 2_000, [b"%d:" % i + payload for i in range(2_000)])
        _, replicas = cluster.placement(conn, "CATCH")
        follower = cluster.node(str(replicas[0]["name"]))
        follower.stop()
        later = 20_000
        conn.publish_many([f"catch.{'bc'[i % 2]}" for i in range(later)],
                          [b"%d:" % i + payload for i in range(later)])
        total = 2_000 + later
        follower.start(timeout=30)
        reads: list[str] = []
        began = time.monotonic()
        caught_up_at = None
        while len(reads) < 60 and time.monotonic() - began < 20:
            start = 1 if len(reads) % 3 == 0 else total - 1_500
            try:
                if len(reads) % 4 == 1:  # a store sync records no held message as a gap
                    store = ek.Store(tmp_path / f"store-{len(reads)}")
                    store.sync(conn, "CATCH", progress=False)
                    assert len(store) == total, f"sync {len(reads)} stored {len(store)}"
                    reads.append("synced")
                    continue
                got = rows(conn.read("CATCH", start=start, progress=False))
            except ek.ReadInterruptedError as exc:  # allowed: says where it stopped
                assert "'CATCH'" in str(exc) and exc.resume is not None
                reads.append("interrupted")
                continue
            assert [r[0] for r in got] == list(range(start, total + 1)), (
                f"read {len(reads)} from {start} returned {len(got)} rows, not "
                f"{total - start + 1}")
            reads.append("complete")
            if caught_up_at is None and all(
                    r.get("current") for r in cluster.placement(conn, "CATCH")[1]):
                caught_up_at = len(reads)
            if caught_up_at is not None and len(reads) >= max(caught_up_at + 5, 14):
                break
        assert reads.count("complete") >= 8 and reads.count("synced") >= 3
        expected = nats_py_get(cluster.urls, "CATCH")
        assert len(expected) == total
        assert rows(conn.read("CATCH", progress=False)) == expected
        print(f"{len(reads)} reads, {reads.count('interrupted')} interrupted, "
              f"replica current after read {caught_up_at}")


@pytest.fixture(scope="module")
def adv(cluster: Cluster) -> int:
    """An R3 stream for the failover tests; its last sequence."""
    with ek.connect(",".join(cluster.urls)) as conn:
        conn.create_stream("ADV", ["adv.>"], num_replicas=3)
        n = 20_000
        conn.publish_many([f"adv.{i % 5}" for i in range(n)], [b"%d" % i for i in range(n)])
    return n


@pytest.mark.parametrize("fault", ["killed", "lame duck"])
def test_a_read_given_one_url_goes_on_from_the_servers_the_cluster_advertises(
        cluster, adv, fault):
    with ek.connect(",".join(cluster.urls)) as admin:
        leader, _ = cluster.placement(admin, "ADV")
    # neither the stream's leader nor the meta leader (which places the read's consumer):
    # the read must not wait for an election, only fail over
    leaders = {cluster.node(leader), cluster.node(cluster.meta_leader())}
    victim = next(n for n in cluster.nodes if n not in leaders)
    with ek.connect(victim.url) as conn:  # this one URL only
        assert len(conn.read("ADV", end=10, progress=False)) == 10
        if fault == "killed":
            victim.kill()
        else:
            os.kill(victim.pid, signal.SIGUSR2)  # lame-duck mode: clients are told (INFO ldm)
            eventually(lambda: refuses(victim.client_port), 5)  # and new ones refused
        try:
            began = time.monotonic()
            events = conn.read("ADV", progress=False)
            seconds = time.monotonic() - began
            assert events.to_polars()["seq"].to_list() == list(range(1, adv + 1))
            assert conn.server != victim.url  # read from another node
            assert seconds < 10, seconds
        finally:
            victim.stop()
            victim.start(timeout=30)
    print(f"{fault}: read from {conn.server} in {seconds:.1f} s")

