"""Protobuf compatibility: does a change of message keep old and new bytes readable?

Pure: message descriptors in, :class:`~eventkit.schema._compat_json.Problem` out.
As Confluent's schema registry does for Protobuf, a check compares two
versions as a change (``old -> new``): BACKWARD checks the change from the
registered version to the new one, FORWARD the change back, FULL both. The
wire knows fields by number, so a change is judged by what it does to the
numbers:

======================================== ============ ===============================
change (old -> new)                      compatible   why
======================================== ============ ===============================
add a field (a new number)               yes          old bytes lack it: its default
remove a field                           yes          its number is skipped
rename a field (same number)             yes          names are not on the wire
a name kept, its number changed          no           the values land elsewhere
a number kept, its type changed within   yes          same encoding
 a wire group: int32 uint32 int64
 uint64 bool (and enums); sint32 sint64;
 fixed32 sfixed32; fixed64 sfixed64;
 string bytes
a number kept, its type changed across   no           (a number reused for another
 groups, or scalar <-> message                         type)
a number kept, another message or enum   no           Confluent compares named types
 type (by name)
singular <-> repeated                    only for string, bytes and messages
add or remove a proto2 required field    no
move a field out of a oneof              no
move one field into a new oneof          yes
move a field into an existing oneof, or  no
 several fields into one new oneof
rename the message or its package        no           (the message was removed)
remove an enum value of a closed (proto2) no          unknown values are dropped
 enum; give an enum value's name another
 number
add enum values, remove from open enums  yes
======================================== ============ ===============================

Nested message types are compared the same way, field by field, once per pair.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventkit.schema._compat_json import Problem
from eventkit.schema._entry import SchemaEntry, protobuf_message

if TYPE_CHECKING:
    from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

__all__ = ["RULES", "parsed", "read_problems"]

_RULES = {
    "message": "renaming or removing the message (its full name changed)",
    "number": "changing a field's number",
    "type": "changing a field's type to one the wire does not read as the other",
    "named": "changing a field's message or enum type",
    "label": "changing a field between singular and repeated",
    "required_added": "adding a required field",
    "required_removed": "removing a required field",
    "oneof_out": "moving a field out of a oneof",
    "oneof_existing": "moving a field into an existing oneof",
    "oneof_several": "moving several fields into one new oneof",
    "enum_removed": "removing a value from a closed (proto2) enum",
    "enum_number": "giving an enum value another number",
}

#: The rule per kind: the same words both ways, since each direction is checked as a change
#: (``"forward"``: the change from the new schema back to the registered one).
RULES = {(kind, d): text for kind, text in _RULES.items() for d in ("backward", "forward")}

#: Field types that read each other's bytes (protobuf's language guide, "Updating").
_GROUPS: dict[str, str] = {
    **dict.fromkeys(("int32", "uint32", "int64", "uint64", "bool", "enum"), "varint"),
    **dict.fromkeys(("sint32", "sint64"), "zigzag"),
    **dict.fromkeys(("fixed32", "sfixed32"), "fixed32"),
    **dict.fromkeys(("fixed64", "sfixed64"), "fixed64"),
    **dict.fromkeys(("string", "bytes"), "length"),
}


def parsed(entry: SchemaEntry) -> Descriptor:
    """A Protobuf entry's message descriptor."""
    descriptor: Descriptor = protobuf_message(entry).DESCRIPTOR
    return descriptor


def read_problems(reader: Descriptor, writer: Descriptor) -> list[Problem]:
    """Why the change ``writer -> reader`` (old -> new) breaks bytes on the wire."""
    out: list[Problem] = []
    if reader.full_name != writer.full_name:
        out.append(Problem("", "message", f"{{writer}} is {writer.full_name}, {{reader}} "
                           f"{reader.full_name}"))
        return out
    _message(writer, reader, "", out, set())
    return out


def _type_name(field: FieldDescriptor) -> str:
    if field.message_type is not None:
        return str(field.message_type.full_name)
    if field.enum_type is not None:
        return "enum"
    names = {getattr(type(field), n): n.removeprefix("TYPE_").lower()
             for n in dir(type(field)) if n.startswith("TYPE_")}
    return names.get(field.type, str(field.type))


def _repeated(field: FieldDescriptor) -> bool:
    if hasattr(field, "is_repeated"):  # protobuf 6 and later
        return bool(field.is_repeated)
    return bool(field.label == field.LABEL_REPEATED)  # pragma: no cover - protobuf 5


def _required(field: FieldDescriptor) -> bool:
    if hasattr(field, "is_required"):
        return bool(field.is_required)
    return bool(field.label == field.LABEL_REQUIRED)  # pragma: no cover - protobuf 5


def _oneof(field: FieldDescriptor) -> Any:
    """The real oneof a field is in (a proto3 ``optional`` is a synthetic one: none)."""
    oneof = field.containing_oneof
    if oneof is None or (len(oneof.fields) == 1 and oneof.name == f"_{field.name}"):
        return None
    return oneof


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _message(old: Descriptor, new: Descriptor, path: str, out: list[Problem],
             seen: set[tuple[str, str]]) -> None:
    seen.add((old.full_name, new.full_name))
    olds, news = old.fields_by_number, new.fields_by_number
    new_by_name = new.fields_by_name
    for number, was in olds.items():
        where = _join(path, was.name)
        now = news.get(number)
        moved = new_by_name.get(was.name)
        if moved is not None and moved.number != number:
            out.append(Problem(where, "number", f"{{writer}} writes it as field {number}, "
                               f"{{reader}} as field {moved.number}"))
        if now is None:
            if _required(was):
                out.append(Problem(where, "required_removed", "{writer} requires it, "
                                   "{reader} has no such field"))
            continue
        _field(was, now, _join(path, now.name), out, seen)
    for number, now in news.items():
        if number not in olds and _required(now):
            out.append(Problem(_join(path, now.name), "required_added", "{reader} requires "
                               "it, {writer} never writes it"))
    _oneofs(old, new, path, out)


def _field(was: FieldDescriptor, now: FieldDescriptor, where: str, out: list[Problem],
           seen: set[tuple[str, str]]) -> None:
    before, after = _type_name(was), _type_name(now)
    message = was.message_type is not None or now.message_type is not None
    if message or (was.enum_type is not None and now.enum_type is not None):
        named_before = (was.message_type or was.enum_type).full_name if (
            was.message_type or was.enum_type) else before
        named_after = (now.message_type or now.enum_type).full_name if (
            now.message_type or now.enum_type) else after
        if named_before != named_after:
            kind = "named" if (was.message_type and now.message_type) or (
                was.enum_type and now.enum_type) else "type"
            out.append(Problem(where, kind, f"{{writer}} has {named_before}, {{reader}} "
                               f"{named_after} (field {now.number})"))
            return
    elif before != after and (_GROUPS.get(before) is None
                              or _GROUPS.get(before) != _GROUPS.get(after)):
        out.append(Problem(where, "type", f"{{writer}} writes {before}, {{reader}} reads "
                           f"{after} (field {now.number}); only types of one wire group "
                           "read each other"))
        return
    if _repeated(was) != _repeated(now) and not (
            message or _GROUPS.get(after) == "length"):
        shown = {True: "repeated", False: "singular"}
        out.append(Problem(where, "label", f"{{writer}} has it {shown[_repeated(was)]}, "
                           f"{{reader}} {shown[_repeated(now)]} ({after})"))
    if _required(now) and not _required(was):
        out.append(Problem(where, "required_added", "{reader} requires it, {writer} may "
                           "leave it out"))
    if was.message_type is not None and now.message_type is not None and (
            was.message_type.full_name, now.message_type.full_name) not in seen:
        _message(was.message_type, now.message_type, where, out, seen)
    elif was.enum_type is not None and now.enum_type is not None:
        _enum(was.enum_type, now.enum_type, where, out)


def _enum(old: EnumDescriptor, new: EnumDescriptor, where: str, out: list[Problem]) -> None:
    new_numbers = new.values_by_number
    closed = bool(getattr(new, "is_closed", False))
    for value in old.values:
        renumbered = new.values_by_name.get(value.name)
        if renumbered is not None and renumbered.number != value.number:
            out.append(Problem(where, "enum_number", f"{{writer}} has {value.name} = "
                               f"{value.number}, {{reader}} {value.name} = {renumbered.number}"))
        elif value.number not in new_numbers and closed:
            out.append(Problem(where, "enum_removed", f"{{writer}} may write {value.name} "
                               f"({value.number}), which {{reader}}'s closed enum "
                               f"{new.name} lacks: it would be dropped"))


def _oneofs(old: Descriptor, new: Descriptor, path: str, out: list[Problem]) -> None:
    olds = old.fields_by_number
    for oneof in {id(o): o for o in (_oneof(f) for f in new.fields) if o}.values():
        existed = [f for f in oneof.fields if f.number in olds]
        earlier = {o.name for o in (_oneof(f) for f in old.fields) if o}
        for field in existed:
            before = _oneof(olds[field.number])
            if before is not None and before.name == oneof.name:
                continue
            where = _join(path, field.name)
            if oneof.name in earlier:
                out.append(Problem(where, "oneof_existing", f"{{writer}} has it outside "
                                   f"oneof {oneof.name}, which {{reader}} moves it into"))
            elif len(existed) > 1:
                out.append(Problem(where, "oneof_several", f"{{reader}} puts it in the new "
                                   f"oneof {oneof.name} with other fields {{writer}} has "
                                   "outside it"))
    for field in old.fields:
        before = _oneof(field)
        now = new.fields_by_number.get(field.number)
        if before is not None and now is not None and _oneof(now) is None:
            out.append(Problem(_join(path, now.name), "oneof_out", f"{{writer}} has it in "
                               f"oneof {before.name}, {{reader}} outside any oneof"))
