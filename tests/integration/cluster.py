"""A local 3-node JetStream cluster of real nats-servers, for fault tests.

Each node has its own ``server_name`` and store; route ports are picked in
advance so every node lists all three routes (a node with no routes refuses
JetStream clustering). Client ports are free ones, kept across restarts.
"""

from __future__ import annotations

import socket
from pathlib import Path

import eventkit as ek
from eventkit.source import _loop
from tests.eventually import eventually


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Node(ek.EmbeddedServer):
    """A cluster node: ready once it serves clients with JetStream on, not once every
    stream on it is current (a restarted node must be usable while it catches up)."""

    def _healthy(self) -> bool:
        import urllib.request

        url = f"http://{self.host}:{self.monitor_port}/healthz?js-enabled-only=true"
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False


class Cluster:
    """Three JetStream nodes routed to each other (``nodes[i]`` is an EmbeddedServer)."""

    def __init__(self, root: Path, *, lame_duck: str = "30s", extra: str = "",
                 admin: dict[str, str] | None = None) -> None:
        self.admin = admin or {}  # credentials for the cluster's own checks
        routes = free_ports(3)
        route_list = ", ".join(f"nats-route://127.0.0.1:{p}" for p in routes)
        self.nodes = [
            Node(
                root / f"n{i}",
                config=(f"server_name: n{i}\nlame_duck_duration: {lame_duck}\n"
                        f"lame_duck_grace_period: 0s\n"
                        f"cluster {{ name: ek, listen: 127.0.0.1:{routes[i]}, "
                        f"routes: [{route_list}] }}\n{extra}"),
            )
            for i in range(3)
        ]

    def start(self) -> Cluster:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(3) as pool:  # together: none is ready without the others
            list(pool.map(lambda n: n.start(timeout=30), self.nodes))
        eventually(self._meta_ready, 20)
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def _meta_ready(self) -> bool:
        with ek.connect(self.nodes[0].url, **self.admin) as conn:
            conn.streams()  # answers only once a meta leader is elected
        return True

    def placement(self, conn: ek.Connection, stream: str) -> tuple[str, list[dict[str, object]]]:
        """The stream's leader and its replicas (name, current, lag) as the cluster says."""
        info = conn.jetstream
        answer = _loop.run(info.api(f"STREAM.INFO.{stream}", stream=stream))
        cluster = answer.get("cluster") or {}
        return str(cluster.get("leader")), list(cluster.get("replicas") or [])

    def meta_leader(self) -> str:
        """The node leading the cluster's JetStream meta layer (it places every consumer)."""
        import json
        import urllib.request

        def known() -> str:  # none while a node that came back rejoins and a vote runs
            url = f"http://127.0.0.1:{self.nodes[0].monitor_port}/jsz"
            with urllib.request.urlopen(url, timeout=5) as r:
                return str(json.load(r)["meta_cluster"].get("leader") or "")

        return eventually(known, 20)

    def node(self, name: str) -> ek.EmbeddedServer:
        return self.nodes[int(name.removeprefix("n"))]
