"""Schema ids, subject versions, and Confluent Schema Registry's storage record format.

Part of the event contract. `SchemaStore` is what encoders and decoders need; its adapters
live in `schema_stores` (the `<prefix>._schemas` topic, or an external registry). This module
is pure: the in-memory `SchemaBook` is filled from, and produces, storage records.

Schema ids without an external registry: the first 4 bytes of SHA-256 of the schema's
canonical text, & 0x7FFFFFFF. The canonical text is the schema as compact JSON with sorted
keys, and it is exactly the text stored in the `_schemas` topic, so anyone can re-derive an id.
(Avro's Parsing Canonical Form is not used: it drops logical types, decimal precision and
scale, defaults and `db2Type`, so DECIMAL(9,2) and DECIMAL(9,3) would share an id.)

Storage records (Confluent's format, compacted topic, one partition):
key `{"keytype":"SCHEMA","subject":S,"version":V,"magic":1}`, value
`{"subject":S,"version":V,"id":ID,"schema":"<canonical text>","deleted":false}`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from event_contract.compatibility import backward_incompatibilities
from event_contract.errors import SchemaIncompatibleError, SchemaStoreError

logger = logging.getLogger(__name__)

Schema = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SubjectVersion:
    """One version of a subject: its number, its schema id and the schema."""

    subject: str
    version: int
    id: int
    schema: Schema


class SchemaStore(Protocol):
    """Where schemas are registered and found again (owned by the encoders and decoders)."""

    def register(self, subject: str, schema: Schema, *, accept_incompatible: bool = False) -> int:
        """The id of `schema` under `subject`, adding a new version when it is new.

        Raises:
            SchemaIncompatibleError: the new version is not BACKWARD compatible with the
                latest one (unless `accept_incompatible`).
        """
        ...

    def commit_pending(self) -> None:
        """The Kafka transaction that carried the new versions registered since committed."""
        ...

    def discard_pending(self) -> None:
        """That transaction aborted: forget the versions registered in it."""
        ...

    def by_id(self, schema_id: int) -> Schema | None:
        """The schema with this id, or None."""
        ...

    def latest(self, subject: str) -> SubjectVersion | None:
        """The newest version of `subject`, or None when it has none."""
        ...

    def subjects(self) -> list[str]:
        """Every subject with at least one live version, sorted."""
        ...

    def versions(self, subject: str) -> list[int]:
        """The live version numbers of `subject`, ascending."""
        ...

    def version(self, subject: str, version: int) -> SubjectVersion | None:
        """One version of `subject`, or None."""
        ...


class SubjectReader(Protocol):
    """The read side of a store that `export` needs (a `SchemaStore` or a `SchemaBook`)."""

    def subjects(self) -> list[str]:
        """Every subject with a live version, sorted."""
        ...

    def versions(self, subject: str) -> list[int]:
        """The live version numbers of `subject`, ascending."""
        ...

    def version(self, subject: str, version: int) -> SubjectVersion | None:
        """One version of `subject`, or None."""
        ...


def canonical_text(schema: Mapping[str, Any]) -> str:
    """The schema as compact JSON with sorted keys: what ids hash and the topic stores."""
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


def schema_id(schema: Mapping[str, Any]) -> int:
    """The deterministic id of a schema: SHA-256 of its canonical text, 31 bits."""
    digest = hashlib.sha256(canonical_text(schema).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def storage_key(subject: str, version: int) -> bytes:
    """The `_schemas` record key of a subject version (Confluent's field order)."""
    key = {"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1}
    return json.dumps(key, separators=(",", ":")).encode()


def storage_value(entry: SubjectVersion) -> bytes:
    """The `_schemas` record value of a subject version."""
    value = {
        "subject": entry.subject,
        "version": entry.version,
        "id": entry.id,
        "schema": canonical_text(entry.schema),
        "deleted": False,
    }
    return json.dumps(value, separators=(",", ":")).encode()


class SchemaBook:
    """Subjects, versions and ids in memory, built from `_schemas` storage records."""

    def __init__(self) -> None:
        self._by_id: dict[int, Schema] = {}
        self._texts: dict[int, str] = {}
        self._subjects: dict[str, dict[int, SubjectVersion]] = {}

    def apply(self, key: bytes | None, value: bytes | None, where: str = "_schemas") -> None:
        """Take in one storage record; records other than SCHEMA ones are ignored.

        A null value (tombstone) or `"deleted": true` removes the version from its subject;
        its id still resolves, as in Confluent's registry.

        Raises:
            SchemaStoreError: the record is not valid JSON of the storage format (`where`
                names the topic and offset).
        """
        try:
            parsed_key = json.loads(key) if key else None
            if not isinstance(parsed_key, dict) or parsed_key.get("keytype") != "SCHEMA":
                return
            subject, version = str(parsed_key["subject"]), int(parsed_key["version"])
            if value is None:
                self._subjects.get(subject, {}).pop(version, None)
                return
            record = json.loads(value)
            entry = SubjectVersion(
                subject, version, int(record["id"]), json.loads(record["schema"])
            )
            deleted = bool(record.get("deleted", False))
        except (ValueError, KeyError, TypeError) as exc:
            raise SchemaStoreError(where, f"record is not in the storage format: {exc}") from exc
        self._by_id[entry.id] = entry.schema
        self._texts[entry.id] = canonical_text(entry.schema)
        versions = self._subjects.setdefault(subject, {})
        if deleted:
            versions.pop(version, None)
        else:
            versions[version] = entry

    def plan(
        self, subject: str, schema: Schema, accept_incompatible: bool = False
    ) -> SubjectVersion:
        """The version `schema` is, or would become, under `subject` (no change is made).

        Raises:
            SchemaIncompatibleError: not BACKWARD compatible with the latest version.
            SchemaStoreError: another schema already has this schema's id (a hash collision).
        """
        new_id = schema_id(schema)
        for entry in self._subjects.get(subject, {}).values():
            if entry.id == new_id:
                return entry
        text = self._texts.get(new_id)
        if text is not None and text != canonical_text(schema):
            raise SchemaStoreError(
                f"subject {subject}", f"schema id {new_id} is already taken by another schema"
            )
        latest = self.latest(subject)
        if latest is None:
            return SubjectVersion(subject, 1, new_id, schema)
        problems = backward_incompatibilities(schema, latest.schema)
        if problems and not accept_incompatible:
            first = problems[0]
            raise SchemaIncompatibleError(
                subject,
                latest.version,
                field=first.field,
                old_type=first.old_type,
                new_type=first.new_type,
                reason="; ".join(p.reason for p in problems),
            )
        if problems:
            logger.warning("subject %s: accepting an incompatible schema: %s", subject, problems)
        return SubjectVersion(subject, latest.version + 1, new_id, schema)

    def by_id(self, schema_id: int) -> Schema | None:
        """The schema with this id, or None."""
        return self._by_id.get(schema_id)

    def latest(self, subject: str) -> SubjectVersion | None:
        """The newest live version of `subject`, or None."""
        versions = self._subjects.get(subject)
        return versions[max(versions)] if versions else None

    def subjects(self) -> list[str]:
        """Every subject with a live version, sorted."""
        return sorted(s for s, versions in self._subjects.items() if versions)

    def versions(self, subject: str) -> list[int]:
        """The live version numbers of `subject`, ascending."""
        return sorted(self._subjects.get(subject, {}))

    def version(self, subject: str, version: int) -> SubjectVersion | None:
        """One version of `subject`, or None."""
        return self._subjects.get(subject, {}).get(version)


def export(store: SubjectReader, directory: Path) -> list[Path]:
    """Write every subject version as `<directory>/<subject>/v<version>.avsc`.

    Returns:
        The files written, in subject and version order.
    """
    written = []
    for subject in store.subjects():
        for number in store.versions(subject):
            entry = store.version(subject, number)
            if entry is None:
                continue
            path = directory / subject / f"v{number}.avsc"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(entry.schema, indent=2) + "\n", encoding="utf-8")
            written.append(path)
    return written
