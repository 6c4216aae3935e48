"""BACKWARD compatibility of two versions of a schema: can the new one read the old one's data?

Avro schema resolution with the new schema as reader and the old one as writer, as Confluent
Schema Registry checks it for BACKWARD, plus one stricter rule: logical types must match
exactly (a decimal's precision and scale included), because reading DECIMAL(9,2) bytes as
DECIMAL(9,3) gives other numbers. So:

- a field added with a default, or a field removed: compatible;
- a field added without a default: incompatible;
- a type change other than Avro's promotions (int → long, float or double; long → float or
  double; float → double; string ↔ bytes; T → ["null", T]): incompatible;
- nullable → NOT NULL (["null", T] → T): incompatible.

A column whose Db2 type stays while its Avro encoding changes is described with both encodings
(`TIME (long time-micros)` → `TIME (int time-millis)`). That is the one such change Offload
itself makes: Db2 TIME moved from `long` `time-micros` to Debezium's `int` `time-millis`. It is
refused like any other (an Avro reader with the new schema cannot read the older records: long
does not resolve to int), with `TIME_ENCODING_NOTE` in its reason, until the operator accepts
it; Offload's own readers decode every record with its writer schema and read both.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import fastavro

_PROMOTIONS = {
    ("int", "long"),
    ("int", "float"),
    ("int", "double"),
    ("long", "float"),
    ("long", "double"),
    ("float", "double"),
    ("string", "bytes"),
    ("bytes", "string"),
}
_MISMATCH = "mismatch"
TIME_ENCODING_NOTE = (
    "Offload now writes Db2 TIME as Debezium does (int time-millis, was long time-micros); "
    "Offload's readers read both, a consumer reading the older records with the new schema "
    "does not"
)
"""Ends the reason of a TIME column refused for the change of its encoding alone."""


@dataclass(frozen=True, slots=True)
class Incompatibility:
    """One reason the new schema cannot read data written with the old one.

    Attributes:
        record: full name of the record holding the field, e.g. `offload.shipping.orders.Value`.
        field: the field name (a Db2 column name for change topics); "" for the whole schema.
        old_type: the field's old type, as Db2 DDL when it has `db2Type`, else Avro; "(absent)".
        new_type: the field's new type, written the same way.
        reason: one sentence naming the field and both types.
    """

    record: str
    field: str
    old_type: str
    new_type: str
    reason: str


def backward_incompatibilities(
    new: Mapping[str, Any], old: Mapping[str, Any]
) -> list[Incompatibility]:
    """Every reason why `new` cannot read data written with `old`; empty when compatible."""
    checker = _Checker(_parse(new), _parse(old))
    return checker.check()


def describe_field(field: Mapping[str, Any]) -> str:
    """A field's type as a person reads it: its Db2 type (with NOT NULL), else its Avro type."""
    db2_type = field.get("db2Type")
    kind = field["type"]
    if db2_type:
        nullable = isinstance(kind, list) and "null" in kind
        return db2_type if nullable else f"{db2_type} NOT NULL"
    return describe_type(kind)


def describe_type(kind: Any) -> str:
    """An Avro type in a short readable form: `int`, `decimal(9,2)`, `null | string`."""
    if isinstance(kind, list):
        return " | ".join(describe_type(branch) for branch in kind)
    if isinstance(kind, str):
        return kind
    logical = kind.get("logicalType")
    if logical == "decimal":
        return f"decimal({kind.get('precision')},{kind.get('scale', 0)})"
    if logical:
        return str(logical)
    if kind["type"] in ("record", "enum", "fixed"):
        return str(kind["name"])
    if kind["type"] == "array":
        return f"array<{describe_type(kind['items'])}>"
    if kind["type"] == "map":
        return f"map<{describe_type(kind['values'])}>"
    return str(kind["type"])


@dataclass
class _Parsed:
    schema: Any
    names: dict[str, Any]


def _parse(schema: Mapping[str, Any]) -> _Parsed:
    names: dict[str, Any] = {}
    # parse_schema qualifies every name; references become full names looked up in `names`.
    parsed = fastavro.parse_schema(copy.deepcopy(dict(schema)), names)
    return _Parsed(parsed, names)


class _Checker:
    def __init__(self, reader: _Parsed, writer: _Parsed) -> None:
        self.reader = reader
        self.writer = writer
        self.seen: set[tuple[str, str]] = set()
        self.found: list[Incompatibility] = []

    def check(self) -> list[Incompatibility]:
        outcome = self.resolve(self.reader.schema, self.writer.schema)
        if outcome == _MISMATCH:
            old = describe_type(self.writer.schema)
            new = describe_type(self.reader.schema)
            reason = f"the schema changed type from {old} to {new}"
            self.found.append(Incompatibility("", "", old, new, reason))
        return self.found

    def resolve(self, reader: Any, writer: Any) -> str | None:
        """None when `reader` reads `writer`'s data; _MISMATCH otherwise.

        Field-level problems inside nested records are appended to `self.found` (and the
        records count as matching, so each problem is reported once, at its field).
        """
        reader = self.reader.names.get(reader, reader) if isinstance(reader, str) else reader
        writer = self.writer.names.get(writer, writer) if isinstance(writer, str) else writer
        if isinstance(writer, list):
            misses = [w for w in writer if self.resolve(reader, w) is not None]
            return _MISMATCH if misses else None
        if isinstance(reader, list):
            hits = [r for r in reader if self._same_kind(r, writer)]
            return self.resolve(hits[0], writer) if hits else _MISMATCH
        return self._resolve_single(reader, writer)

    def _same_kind(self, reader: Any, writer: Any) -> bool:
        # Picks the union branch that Avro resolution would pick, before checking it.
        reader = self.reader.names.get(reader, reader) if isinstance(reader, str) else reader
        return _base(reader) == _base(writer) or (_base(writer), _base(reader)) in _PROMOTIONS

    def _resolve_single(self, reader: Any, writer: Any) -> str | None:
        r_base, w_base = _base(reader), _base(writer)
        if _logical(reader) != _logical(writer):
            return _MISMATCH
        if r_base != w_base:
            return None if (w_base, r_base) in _PROMOTIONS else _MISMATCH
        if r_base == "record":
            return self._record(reader, writer)
        if r_base == "array":
            return self.resolve(reader["items"], writer["items"])
        if r_base == "map":
            return self.resolve(reader["values"], writer["values"])
        if r_base == "enum":
            missing = set(writer["symbols"]) - set(reader["symbols"])
            return _MISMATCH if missing and "default" not in reader else None
        if r_base == "fixed":
            same = reader["size"] == writer["size"] and _short(reader) == _short(writer)
            return None if same else _MISMATCH
        return None

    def _record(self, reader: Mapping[str, Any], writer: Mapping[str, Any]) -> str | None:
        if _short(reader) != _short(writer):
            return _MISMATCH
        pair = (reader["name"], writer["name"])
        if pair in self.seen:
            return None
        self.seen.add(pair)
        old_fields = {field["name"]: field for field in writer["fields"]}
        for field in reader["fields"]:
            old = _find(old_fields, field)
            if old is None:
                if "default" not in field:
                    new_type = describe_field(field)
                    reason = f"field {field['name']} ({new_type}) was added without a default"
                    self._add(reader, field["name"], "(absent)", new_type, reason)
            elif self.resolve(field["type"], old["type"]) is not None:
                self._changed(reader, old, field)
        return None

    def _changed(
        self, record: Mapping[str, Any], old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> None:
        old_type, new_type = describe_field(old), describe_field(new)
        note = ""
        if old_type == new_type:  # the same Db2 type, another Avro encoding
            old_encoding, new_encoding = _encoding(old["type"]), _encoding(new["type"])
            old_type, new_type = f"{old_type} ({old_encoding})", f"{new_type} ({new_encoding})"
            if (old_encoding, new_encoding) == ("long time-micros", "int time-millis"):
                note = f": {TIME_ENCODING_NOTE}"
        reason = f"field {new['name']} changed type from {old_type} to {new_type}{note}"
        self._add(record, new["name"], old_type, new_type, reason)

    def _add(self, record: Mapping[str, Any], field: str, old: str, new: str, why: str) -> None:
        self.found.append(Incompatibility(str(record["name"]), field, old, new, why))


def _encoding(kind: Any) -> str:
    """The Avro encoding of a field type without its null branch: `long time-micros`."""
    if isinstance(kind, list):
        return " | ".join(_encoding(branch) for branch in kind if branch != "null")
    if isinstance(kind, dict) and kind.get("logicalType") not in (None, "decimal"):
        return f"{kind['type']} {kind['logicalType']}"
    return describe_type(kind)


def _find(old_fields: Mapping[str, Any], field: Mapping[str, Any]) -> Any:
    for name in (field["name"], *field.get("aliases", ())):
        if name in old_fields:
            return old_fields[name]
    return None


def _base(kind: Any) -> str:
    if isinstance(kind, str):
        return kind
    if isinstance(kind, list):
        return "union"
    return str(kind["type"])


def _logical(kind: Any) -> tuple[Any, ...]:
    if not isinstance(kind, dict) or "logicalType" not in kind:
        return ()
    if kind["logicalType"] == "decimal":
        return ("decimal", kind.get("precision"), kind.get("scale", 0))
    return (kind["logicalType"],)


def _short(named: Mapping[str, Any]) -> str:
    return str(named["name"]).rsplit(".", 1)[-1]
