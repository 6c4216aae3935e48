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
                old_type, new_type = describe_field(old), describe_field(field)
                reason = f"field {field['name']} changed type from {old_type} to {new_type}"
                self._add(reader, field["name"], old_type, new_type, reason)
        return None

    def _add(self, record: Mapping[str, Any], field: str, old: str, new: str, why: str) -> None:
        self.found.append(Incompatibility(str(record["name"]), field, old, new, why))


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
