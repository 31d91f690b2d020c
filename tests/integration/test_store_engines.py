"""Other engines read the store: Spark in local mode, and a store on an S3-compatible server.

polars, pandas and DuckDB are in test_store.py; these need a JVM or a second
server and take a few seconds more.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator

import polars as pl
import pytest

import eventkit as ek
from tests.eventually import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def rides_store(rides, server, tmp_path_factory) -> ek.Store:
    store = ek.Store(tmp_path_factory.mktemp("engines") / "rides")
    with ek.connect(server.url) as conn:
        store.sync(conn, "RIDES", progress=False, batch=20_000)
    return store


def test_spark_reads_the_current_files_with_default_settings(rides_store):
    if shutil.which("java") is None:
        pytest.fail("no Java runtime: .ci/run installs default-jre-headless")
    from deltalake import DeltaTable
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[1]").appName("eventkit-store")
             .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC")
             .config("spark.driver.host", "127.0.0.1")
             .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
    try:
        envelope = DeltaTable(str(rides_store.path / "envelope")).file_uris()
        env = spark.read.parquet(*envelope)
        assert dict(env.dtypes)["seq"] == "bigint"
        assert dict(env.dtypes)["time"] == "timestamp"
        by_type = {r["type"]: r["count"] for r in env.groupBy("type").count().collect()}
        want = rides_store.scan().group_by("type").len().collect()
        assert by_type == dict(want.iter_rows())
        fares = DeltaTable(str(rides_store.path / "types" / "trip_completed")).file_uris()
        spark_sum = spark.read.parquet(*fares).agg({"fare": "sum"}).collect()[0][0]
        polars_sum = rides_store.of_type("trip_completed").select(pl.col("fare").sum()).collect()
        assert spark_sum == pytest.approx(polars_sum.item())
        ns = spark.read.parquet(*envelope).agg({"time_ns": "max"}).collect()[0][0]
        assert ns == rides_store.scan().select(pl.col("time").max().dt.epoch("ns")).collect().item()
    finally:
        spark.stop()


@pytest.fixture()
def s3() -> Iterator[dict[str, str]]:
    """A moto S3 server on loopback and a bucket; the storage options to reach it.

    In a process of its own: in a thread of the test's process it would wait for
    the GIL while delta-rs holds it in a blocking call.
    """
    import boto3

    port = _free_port()
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="test", aws_secret_access_key="test")

        def bucket() -> bool:
            try:
                client.create_bucket(Bucket="eventkit")
            except Exception:  # not listening yet
                return False
            return True

        eventually(bucket, 30)
        yield {"AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true",
               "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
               "AWS_REGION": "us-east-1"}  # commits put-if-absent: the store's default
    finally:
        moto.terminate()
        moto.wait(10)


def test_a_store_on_an_object_store_works_the_same(s3, conn):
    conn.create_stream("S3EV", ["s3ev.>"])
    conn.publish_many([f"s3ev.t{i % 3}" for i in range(3000)],
                      [b'{"type":"t%d","key":"k%d","n":%d}' % (i % 3, i % 7, i)
                       for i in range(3000)])
    store = ek.Store("s3://eventkit/stores/s3ev", storage_options=s3)
    first = store.sync(conn, "S3EV", progress=False)
    assert (first.events, first.last_seq) == (3000, 3000)
    conn.publish_many(["s3ev.t0"] * 10, [b'{"type":"t0","key":"k1","n":1}'] * 10)
    again = ek.Store("s3://eventkit/stores/s3ev", storage_options=s3)
    assert again.sync(conn, progress=False).first_seq == 3001
    want = conn.read("S3EV", progress=False)
    assert again.scan().collect().equals(want.to_polars())
    assert again.of_type("t1").collect().equals(want.of_type("t1"))
    assert again.integrity(conn).ok
    assert again.sql("SELECT count(*) AS n FROM envelope")["n"][0] == 3010
    by_polars = pl.scan_delta("s3://eventkit/stores/s3ev/envelope", storage_options=s3)
    assert by_polars.select(pl.len()).collect().item() == 3010


def test_two_writers_on_an_object_store_cannot_both_commit(s3, conn):
    """No file lock reaches across machines: each commit is put only if its version is
    free, so of two writers that read the store at one version the second is refused."""
    from eventkit.codec import Decoded
    from eventkit.store._writer import Writer

    conn.create_stream("S3TWO", ["s3two.>"])
    conn.publish_many([f"s3two.t{i % 3}" for i in range(600)],
                      [b'{"type":"t%d","key":"k%d","n":%d}' % (i % 3, i % 7, i)
                       for i in range(600)])
    store = ek.Store("s3://eventkit/stores/two", storage_options=s3)
    assert store._tables.options is not None
    assert store._tables.options["AWS_CONDITIONAL_PUT"] == "etag"
    store.sync(conn, "S3TWO", progress=False, batch=300)  # two commits: seq 300, seq 600
    tables = store._tables
    seen = [int(v) for v, s in store.versions().select("version", "last_seq").rows() if s == 300]
    # a second writer that saw the store at seq 300, as a sync started at once would
    late = Writer(tables, tables.state(version=seen[0]), tables.open(tables.envelope, seen[0]))
    events = conn.read("S3TWO", start=301, progress=False)
    with pytest.raises(ek.StoreError, match="another writer committed to the store"):
        late.append(Decoded(events.to_polars(), {t: events.of_type(t) for t in events.types}),
                    301, 600, None)
    assert store.scan().select("seq").collect()["seq"].to_list() == list(range(1, 601))
    typed = pl.concat([store.of_type(t).select("seq").collect() for t in store.types])
    assert sorted(typed["seq"].to_list()) == list(range(1, 601))  # none twice
