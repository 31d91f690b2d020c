"""Reading a stream over WebSocket against over plain TCP, same server, same events.

    python benchmarks/websocket.py [--events 200000] [--runs 3]

Starts an embedded nats-server with a ``websocket`` listener, publishes
small JSON events, then reads the stream with eventkit through ``nats://``
and through ``ws://`` in turn. Prints medians, events/s and the ratio
(WebSocket time / TCP time): what the framing costs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request


def main() -> None:
    import eventkit as ek

    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    conf = 'websocket { listen: "127.0.0.1:-1", no_tls: true }\n'
    with ek.EmbeddedServer(config=conf) as server:
        url = f"http://127.0.0.1:{server.monitor_port}/varz"
        with urllib.request.urlopen(url) as resp:
            ws = f"ws://127.0.0.1:{json.load(resp)['websocket']['port']}"
        with ek.connect(server.url) as conn:
            conn.create_stream("BENCH", ["bench.>"])
            payloads = [json.dumps({"type": "order_placed", "key": f"o{i % 5000}",
                                    "amount": i % 997, "city": "paris"}).encode()
                        for i in range(args.events)]
            for i in range(0, args.events, 50_000):
                chunk = payloads[i:i + 50_000]
                conn.publish_many([f"bench.{i % 7}" for _ in chunk], chunk)
        times: dict[str, list[float]] = {"tcp": [], "ws": []}
        for _ in range(args.runs):
            for way, where in (("tcp", server.url), ("ws", ws)):
                with ek.connect(where) as conn:
                    t = time.perf_counter()
                    events = conn.read("BENCH", progress=False)
                    times[way].append(time.perf_counter() - t)
                    assert len(events) == args.events
    tcp, web = statistics.median(times["tcp"]), statistics.median(times["ws"])
    print(f"{args.events:,} events, median of {args.runs}")
    print(f"  eventkit over nats://  {tcp:6.2f} s  {args.events / tcp:12,.0f} ev/s")
    print(f"  eventkit over ws://    {web:6.2f} s  {args.events / web:12,.0f} ev/s")
    print(f"  ratio ws/tcp           {web / tcp:6.2f}x")


if __name__ == "__main__":
    main()
