"""The Avro schemas of reference records, built from the fields a load definition declares.

A reference topic `<prefix>.reference.<name>` carries a `Key` record (the key fields, never
null) and a `Value` record (every field, nullable ones as `["null", T]` default null). The
declared types map to Avro as follows:

| Declared type  | Avro type                                   |
|----------------|---------------------------------------------|
| string         | string                                      |
| int            | int                                         |
| long           | long                                        |
| double         | double                                      |
| boolean        | boolean                                     |
| date           | int, logicalType date                       |
| time           | long, logicalType time-micros               |
| timestamp      | long, logicalType local-timestamp-micros    |
| decimal(p,s)   | bytes, logicalType decimal, precision p, s  |
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from event_contract.avro_types import Schema, avro_namespace
from event_contract.errors import SchemaDefinitionError

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DECLARED_DECIMAL_RE = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$", re.IGNORECASE)
_DECLARED: dict[str, Any] = {
    "string": "string",
    "int": "int",
    "long": "long",
    "double": "double",
    "boolean": "boolean",
    "date": {"type": "int", "logicalType": "date"},
    "time": {"type": "long", "logicalType": "time-micros"},
    "timestamp": {"type": "long", "logicalType": "local-timestamp-micros"},
}


@dataclass(frozen=True, slots=True)
class DeclaredField:
    """A field of a reference record as its load definition declares it.

    Attributes:
        name: the field name (a valid Avro name).
        type: one of string, int, long, double, boolean, date, time, timestamp, decimal(p,s).
        nullable: whether the field may be missing or null.
    """

    name: str
    type: str
    nullable: bool = True


def declared_schema(name: str, namespace: str, fields: Iterable[DeclaredField]) -> Schema:
    """A record schema from declared fields (the reference loader's key and value records).

    Args:
        name: the record name, e.g. `Key` or `Value`.
        namespace: e.g. `avro_namespace(prefix, "reference", "ports")`.
        fields: the fields in order; nullable ones become `["null", T]` default null.

    Raises:
        SchemaDefinitionError: a field name that Avro does not allow, or an unknown type.
    """
    out: list[Schema] = []
    for field in fields:
        if not _NAME_RE.match(field.name):
            raise SchemaDefinitionError(
                f"field {field.name!r}", "is not a valid Avro name ([A-Za-z_][A-Za-z0-9_]*)"
            )
        avro = declared_type(field.type)
        if field.nullable:
            out.append({"name": field.name, "type": ["null", avro], "default": None})
        else:
            out.append({"name": field.name, "type": avro})
    return {"type": "record", "name": name, "namespace": namespace, "fields": out}


def reference_key_schema(prefix: str, name: str, fields: Iterable[DeclaredField]) -> Schema:
    """The `Key` record of reference topic `<prefix>.reference.<name>`; key fields never null."""
    required = [DeclaredField(f.name, f.type, nullable=False) for f in fields]
    return declared_schema("Key", avro_namespace(prefix, "reference", name), required)


def reference_value_schema(prefix: str, name: str, fields: Iterable[DeclaredField]) -> Schema:
    """The `Value` record of reference topic `<prefix>.reference.<name>`."""
    return declared_schema("Value", avro_namespace(prefix, "reference", name), fields)


def declared_type(text: str) -> Any:
    """The Avro type of a declared type name such as `long` or `decimal(9,2)`."""
    spelled = text.strip().lower()
    if spelled in _DECLARED:
        return _DECLARED[spelled]
    match = _DECLARED_DECIMAL_RE.match(spelled)
    if match:
        precision, scale = int(match.group(1)), int(match.group(2))
        if not 1 <= precision <= 38 or scale > precision:
            raise SchemaDefinitionError(
                f"type {text!r}", "needs 1 <= precision <= 38 and scale <= precision"
            )
        return {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}
    known = ", ".join([*_DECLARED, "decimal(p,s)"])
    raise SchemaDefinitionError(f"type {text!r}", f"is not supported (use one of {known})")
