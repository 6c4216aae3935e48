"""What changed between two versions of an Avro schema, field by field, for the console."""

from __future__ import annotations

import json
from typing import Any


def _fields(schema_text: str) -> dict[str, Any]:
    """The top-level fields of a record schema, or of the row record of an envelope."""
    try:
        schema = json.loads(schema_text)
    except ValueError:
        return {}
    fields = schema.get("fields", []) if isinstance(schema, dict) else []
    # A Debezium-style envelope: the row's record is defined in "before" (or "after"); the
    # other names it (Avro defines a named type once).
    for field in [f for f in fields if f.get("name") in ("before", "after")]:
        branches = field.get("type") if isinstance(field.get("type"), list) else []
        records = [b for b in branches if isinstance(b, dict) and b.get("type") == "record"]
        if records:
            fields = records[0].get("fields", [])
            break
    return {f["name"]: f.get("type") for f in fields if isinstance(f, dict) and "name" in f}


def _type_text(avro_type: Any) -> str:
    if isinstance(avro_type, list):
        return " | ".join(_type_text(t) for t in avro_type)
    if isinstance(avro_type, dict):
        logical = avro_type.get("logicalType")
        if logical == "decimal":
            return f"decimal({avro_type.get('precision')},{avro_type.get('scale', 0)})"
        return str(logical or avro_type.get("name") or avro_type.get("type"))
    return str(avro_type)


def schema_changes(old_text: str, new_text: str) -> list[str]:
    """Human-readable changes from one schema version to the next (fields added, removed,
    retyped), in field order of the newer version, then the removed ones."""
    old, new = _fields(old_text), _fields(new_text)
    changes = []
    for name, avro_type in new.items():
        if name not in old:
            changes.append(f"added {name}: {_type_text(avro_type)}")
        elif old[name] != avro_type:
            changes.append(f"changed {name}: {_type_text(old[name])} -> {_type_text(avro_type)}")
    changes += [f"removed {name}" for name in old if name not in new]
    return changes
