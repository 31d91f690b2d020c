"""The bulk Protobuf wire reader against protobuf's own parser (upb), the oracle.

Messages are built and serialized by protobuf; the frame eventkit reads in bulk
must be the frame of the same messages parsed by protobuf one by one, for
every field kind, for encodings writers rarely make (fields out of order,
written twice, unknown, repeated unpacked) and for broken payloads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from eventkit.formats import _protowire, protobuf
from tests.formats_data import descriptor_set, message

WIRE_PROTO = """
syntax = "proto3";
package wire;
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/wrappers.proto";
enum Color { COLOR_UNSET = 0; RED = 1; GREEN = 2; BLUE = -3; }
message Empty {}
message Inner { string name = 1; sint32 z = 2; repeated int64 xs = 3; Color color = 4; }
message Everything {
  double d = 1; float f = 2; int32 i32 = 3; int64 i64 = 4; uint32 u32 = 5; uint64 u64 = 6;
  sint32 s32 = 7; sint64 s64 = 8; fixed32 fx32 = 9; fixed64 fx64 = 10; sfixed32 sf32 = 11;
  sfixed64 sf64 = 12; bool b = 13; string s = 14; bytes raw = 15; Color color = 16;
  Inner inner = 17; repeated double ds = 18; repeated sint64 ss = 19;
  repeated int32 unpacked = 20 [packed = false]; repeated string names = 21;
  repeated Inner inners = 22; repeated Color colors = 23;
  google.protobuf.Timestamp at = 24; google.protobuf.Duration took = 25;
  google.protobuf.Int64Value wi = 26; google.protobuf.StringValue ws = 27;
  google.protobuf.BoolValue wb = 28; optional int32 maybe = 29; optional string maybe_s = 30;
  oneof pick { string p_text = 31; Inner p_inner = 32; int64 p_num = 33; }
  map<string, int32> counts = 34; repeated google.protobuf.Timestamp times = 35;
  repeated fixed32 fxs = 36; repeated bool flags = 37; Empty nothing = 38;
  repeated bytes blobs = 39; uint64 far_away = 2000;
}
"""

OLD_PROTO = """
syntax = "proto2";
package old;
enum Level { LOW = 1; HIGH = 2; }
message Old {
  optional int32 n = 1 [default = 7]; optional Level level = 2; required string id = 3;
  repeated int32 xs = 4; optional string s = 5 [default = "x"]; optional bytes b = 6;
}
"""

I32, I64 = st.integers(-(2**31), 2**31 - 1), st.integers(-(2**63), 2**63 - 1)
U32, U64 = st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1)
TEXT = st.text(max_size=20)
SCALARS: dict[str, Any] = {
    "d": st.floats(), "f": st.floats(width=32), "i32": I32, "i64": I64, "u32": U32,
    "u64": U64, "s32": I32, "s64": I64, "fx32": U32, "fx64": U64, "sf32": I32, "sf64": I64,
    "b": st.booleans(), "s": TEXT, "raw": st.binary(max_size=20), "color": st.sampled_from(
        [0, 1, 2, -3]), "maybe": I32, "maybe_s": TEXT, "far_away": U64}
REPEATED: dict[str, Any] = {
    "ds": st.floats(), "ss": I64, "unpacked": I32, "names": TEXT,
    "colors": st.sampled_from([0, 1, 2, -3]), "fxs": U32, "flags": st.booleans(),
    "blobs": st.binary(max_size=5)}
SECONDS = st.integers(-(9 * 10**9), 9 * 10**9)


@pytest.fixture(scope="module")
def classes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    wire = descriptor_set(tmp_path_factory.mktemp("wire"), WIRE_PROTO, "wire.proto")
    old = descriptor_set(tmp_path_factory.mktemp("old"), OLD_PROTO, "old.proto")
    from google.protobuf.message_factory import GetMessageClass

    everything = message(wire, "wire.Everything")
    return {"Everything": everything, "Old": message(old, "old.Old"), "Inner": GetMessageClass(
        everything.DESCRIPTOR.fields_by_name["inner"].message_type)}


def one_by_one(bodies: list[bytes], cls: Any) -> tuple[pl.DataFrame, dict[int, str]]:
    """The frame of ``bodies`` parsed by protobuf message by message (the oracle)."""
    table, bad = protobuf._parsed(bodies, cls, "protobuf")
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.cast(protobuf._enums(cls.DESCRIPTOR)), bad  # type: ignore[arg-type]


def same_as_protobuf(bodies: list[bytes], cls: Any) -> None:
    got, bad = protobuf.read_messages(bodies, cls)
    want, want_bad = one_by_one(bodies, cls)
    assert bad == want_bad
    assert_frame_equal(got, want)
    # behind a framing the caller has read (Confluent's magic byte, id, indexes): the same
    skip = [k % 8 for k in range(len(bodies))]
    framed = [b"\x00\xff\x08" * 3 + body for body in bodies]
    got, bad = protobuf.read_messages([f[9 - k:] for f, k in zip(framed, skip, strict=True)],
                                      cls, skip=skip)
    assert bad == want_bad
    assert_frame_equal(got, want)


@st.composite
def inner(draw: st.DrawFn, cls: Any) -> Any:
    m = cls()
    if draw(st.booleans()):
        m.name = draw(TEXT)
    m.z = draw(I32)
    m.xs.extend(draw(st.lists(I64, max_size=3)))
    m.color = draw(st.sampled_from([0, 1, 2, -3]))
    return m


@st.composite
def everything(draw: st.DrawFn, classes: dict[str, Any]) -> Any:
    m = classes["Everything"]()
    for name, values in SCALARS.items():
        if draw(st.booleans()):
            setattr(m, name, draw(values))
    for name, values in REPEATED.items():
        getattr(m, name).extend(draw(st.lists(values, max_size=4)))
    if draw(st.booleans()):
        m.inner.CopyFrom(draw(inner(classes["Inner"])))
    m.inners.extend(draw(st.lists(inner(classes["Inner"]), max_size=3)))
    if draw(st.booleans()):
        m.at.seconds, m.at.nanos = draw(SECONDS), draw(st.integers(0, 999_999_999))
    if draw(st.booleans()):
        m.took.seconds = draw(st.integers(-(10**9), 10**9))
    for _ in range(draw(st.integers(0, 2))):
        m.times.add(seconds=draw(SECONDS), nanos=draw(st.integers(0, 999_999_999)))
    if draw(st.booleans()):
        m.wi.value = draw(I64)
    if draw(st.booleans()):
        m.ws.value = draw(TEXT)
    if draw(st.booleans()):
        m.wb.value = draw(st.booleans())
    if draw(st.booleans()):
        m.nothing.SetInParent()
    pick = draw(st.sampled_from(["", "p_text", "p_inner", "p_num"]))
    if pick == "p_text":
        m.p_text = draw(TEXT)
    elif pick == "p_inner":
        m.p_inner.CopyFrom(draw(inner(classes["Inner"])))
    elif pick == "p_num":
        m.p_num = draw(I64)
    if draw(st.integers(0, 4)) == 0:
        m.counts.update(draw(st.dictionaries(TEXT, I32, max_size=3)))
    return m


def test_the_common_case_is_read_in_bulk(classes: dict[str, Any]) -> None:
    Everything, Inner = classes["Everything"], classes["Inner"]
    m = Everything(d=1.5, f=-2.5, i32=-7, i64=-(2**40), u32=7, u64=2**64 - 1, s32=-9, s64=-(2**62),
                   fx32=9, fx64=2**63, sf32=-11, sf64=-12, b=True, s="héllo", raw=b"\x00\xff",
                   color=-3, ds=[1.0, 2.0], ss=[-1, 1], unpacked=[-1, 5], names=["a", ""],
                   colors=[1, -3], fxs=[1, 2], flags=[True, False], blobs=[b"", b"x"],
                   maybe=0, far_away=5, p_inner=Inner(name="p", xs=[1]))
    m.inner.name, m.inner.z = "in", -4
    m.inners.add(name="one", xs=[3, 4], color=2)
    m.at.seconds, m.at.nanos = 1_793_534_400, 5
    m.took.seconds = -90
    m.times.add(seconds=1)
    m.wi.value, m.ws.value = -3, "w"
    m.wb.SetInParent()
    m.nothing.SetInParent()
    bodies = [m.SerializeToString(), b"", Everything(p_text="t").SerializeToString()]
    read = _protowire.read(bodies, Everything.DESCRIPTOR)
    assert read is not None and not read[1].any()  # nothing left to protobuf's parser
    same_as_protobuf(bodies, Everything)
    frame, _ = protobuf.read_messages(bodies, Everything)
    row = frame.row(0, named=True)
    assert row["u64"] == 2**64 - 1 and row["s64"] == -(2**62) and row["color"] == "BLUE"
    assert row["at"] is not None and row["took"].total_seconds() == -90 and row["wb"] is False
    assert row["inner"] == {"name": "in", "z": -4, "xs": [], "color": "COLOR_UNSET"}
    assert row["nothing"] is None and row["maybe"] == 0 and row["p_num"] is None
    assert frame.row(1, named=True)["maybe"] is None and frame["s"].to_list() == ["héllo", "", ""]


def test_a_time_beyond_nanoseconds_flags_its_message_and_keeps_the_rest(
        classes: dict[str, Any]) -> None:
    # protobuf takes any int64 seconds; a time in nanoseconds ends in 2262: that message is
    # flagged with the reason (it raised OverflowError and lost the whole batch), the rest read
    cls = classes["Everything"]
    far = cls(s="far")
    far.at.seconds = 10**12  # year ~33,700
    long = cls(s="long")
    long.inners.add(name="x")
    long.times.add(seconds=-(10**11))
    bodies = [cls(s="a").SerializeToString(), far.SerializeToString(),
              long.SerializeToString(), cls(s="b").SerializeToString()]
    frame, bad = protobuf.read_messages(bodies, cls)
    assert sorted(bad) == [1, 2]
    assert "Timestamp of 1000000000000 seconds is out of the range" in bad[1]
    assert frame["s"].to_list() == ["a", "b"]
    same_as_protobuf(bodies, cls)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(data=st.data())
def test_random_messages_read_as_protobuf_parses_them(classes: dict[str, Any],
                                                      data: st.DataObject) -> None:
    messages = data.draw(st.lists(everything(classes), min_size=1, max_size=12))
    bodies = [m.SerializeToString() for m in messages]
    # what writers rarely make: two messages in one (fields out of order, written twice,
    # two oneof members: protobuf merges), and a message's bytes cut short or changed
    for k in data.draw(st.lists(st.integers(0, len(bodies) - 1), max_size=3)):
        bodies.append(bodies[k] + data.draw(st.sampled_from(bodies)))
    for k in data.draw(st.lists(st.integers(0, len(bodies) - 1), max_size=3)):
        body = bodies[k]
        if body:
            at = data.draw(st.integers(0, len(body) - 1))
            bodies.append(body[:at] if data.draw(st.booleans()) else
                          body[:at] + bytes([data.draw(st.integers(0, 255))]) + body[at + 1:])
    same_as_protobuf(bodies, classes["Everything"])


@settings(max_examples=60, deadline=None)
@given(raw=st.lists(st.binary(max_size=30), min_size=1, max_size=10))
def test_random_bytes_are_read_or_flagged_as_protobuf_does(classes: dict[str, Any],
                                                          raw: list[bytes]) -> None:
    same_as_protobuf(raw, classes["Everything"])
    same_as_protobuf(raw, classes["Old"])


def test_unknown_fields_unpacked_numbers_and_proto2(classes: dict[str, Any]) -> None:
    Everything, Inner, Old = classes["Everything"], classes["Inner"], classes["Old"]
    bodies = [
        Everything(i32=1, names=["x"]).SerializeToString() + b"\xf8\x07\x05",  # unknown 127
        Inner(xs=[1, 2]).SerializeToString() + b"\x18\x03\x18\x04",  # packed, then unpacked
        Everything(unpacked=[1, 2, 3]).SerializeToString() + b"\xa2\x01\x02\x07\x08",
        Everything(color=7).SerializeToString(),  # a number the enum does not name
        Everything(s="\u00e9").SerializeToString().replace(b"\xc3\xa9", b"\xc3\x28"),  # not UTF-8
        Old(id="a", level=2, xs=[1, 2]).SerializeToString(),
        Old(id="b").SerializeToString() + b"\x10\x09",  # a closed enum's unknown number
        Old().SerializePartialToString(),  # without its required field: read all the same
    ]
    same_as_protobuf(bodies[:5], Everything)
    same_as_protobuf(bodies[1:2], Inner)
    same_as_protobuf(bodies[5:], Old)
    frame, _ = protobuf.read_messages(bodies[5:], Old)
    assert frame["n"].to_list() == [None] * 3 and frame["level"].to_list()[0] == "HIGH"
    assert frame["s"].to_list() == [None] * 3 and frame["xs"].to_list()[0] == [1, 2]


def test_large_batches_with_long_and_many_fields(classes: dict[str, Any]) -> None:
    Everything = classes["Everything"]
    big = Everything(s="x" * 70_000, ss=list(range(-3000, 3000)), names=["n"] * 5000)
    small = [Everything(i64=-i, s=f"r{i}", at={"seconds": i}).SerializeToString()
             for i in range(3000)]
    same_as_protobuf([big.SerializeToString(), *small], Everything)


def test_types_held_in_groups_or_themselves_are_left_to_protobuf(tmp_path: Path) -> None:
    tree = descriptor_set(tmp_path, 'syntax = "proto3"; package t;\n'
                          "message Tree { string name = 1; repeated Tree kids = 2; }",
                          "tree.proto")
    Tree = message(tree, "t.Tree")
    assert _protowire.read([b""], Tree.DESCRIPTOR) is None
