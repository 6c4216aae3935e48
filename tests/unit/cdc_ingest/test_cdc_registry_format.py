"""Deterministic schema ids, Confluent's storage records, subject versions, export."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from event_contract.avro_types import envelope_schema
from event_contract.catalog import Column, Db2Type, Table
from event_contract.errors import SchemaIncompatibleError, SchemaStoreError, SchemaStoreUnavailable
from event_contract.registry import (
    SchemaBook,
    SubjectVersion,
    canonical_text,
    export,
    schema_id,
    storage_key,
    storage_value,
)
from event_contract.schema_stores import ConfluentSchemaStore

SUBJECT = "offload.s.t-value"


def _schema(*extra: Column) -> dict[str, object]:
    table = Table("S", "T", (Column("ID", Db2Type.INTEGER, nullable=False), *extra), ("ID",))
    return envelope_schema(table, "offload")


def test_the_id_is_31_bits_of_sha256_of_the_canonical_text() -> None:
    schema = _schema()
    text = canonical_text(schema)
    assert text == json.dumps(schema, sort_keys=True, separators=(",", ":"))
    expected = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") & 0x7FFFFFFF
    assert schema_id(schema) == expected
    # Pinned: another writer (or another version of this code) must compute the same id.
    tiny = {"type": "record", "name": "T", "fields": [{"name": "a", "type": "long"}]}
    assert (
        canonical_text(tiny) == '{"fields":[{"name":"a","type":"long"}],"name":"T","type":"record"}'
    )
    assert schema_id(tiny) == 843713226


def test_ids_ignore_key_order_but_not_logical_types() -> None:
    schema = _schema()
    reordered = json.loads(json.dumps(schema, sort_keys=True))
    assert schema_id(reordered) == schema_id(schema)
    nine_two = _schema(Column("A", Db2Type.DECIMAL, 9, 2))
    nine_three = _schema(Column("A", Db2Type.DECIMAL, 9, 3))
    assert schema_id(nine_two) != schema_id(nine_three)
    char = _schema(Column("A", Db2Type.CHAR, 10))
    varchar = _schema(Column("A", Db2Type.VARCHAR, 10))
    assert schema_id(char) != schema_id(varchar)


def test_storage_records_are_confluents() -> None:
    schema = {"type": "record", "name": "T", "fields": [{"name": "a", "type": "long"}]}
    entry = SubjectVersion(SUBJECT, 3, 42, schema)
    assert storage_key(SUBJECT, 3) == (
        b'{"keytype":"SCHEMA","subject":"offload.s.t-value","version":3,"magic":1}'
    )
    assert json.loads(storage_value(entry)) == {
        "subject": SUBJECT,
        "version": 3,
        "id": 42,
        "schema": '{"fields":[{"name":"a","type":"long"}],"name":"T","type":"record"}',
        "deleted": False,
    }
    assert list(json.loads(storage_value(entry))) == [
        "subject",
        "version",
        "id",
        "schema",
        "deleted",
    ]


def _book_with(*entries: SubjectVersion) -> SchemaBook:
    book = SchemaBook()
    for entry in entries:
        book.apply(storage_key(entry.subject, entry.version), storage_value(entry))
    return book


def test_versions_count_up_and_the_same_schema_keeps_its_version() -> None:
    book = SchemaBook()
    first = book.plan(SUBJECT, _schema())
    assert (first.version, first.id) == (1, schema_id(_schema()))
    book = _book_with(first)
    assert book.plan(SUBJECT, _schema()) == first
    second = book.plan(SUBJECT, _schema(Column("NOTE", Db2Type.VARCHAR, 10)))
    assert second.version == 2
    book = _book_with(first, second)
    assert book.versions(SUBJECT) == [1, 2]
    assert book.latest(SUBJECT) == second
    # Going back to version 1's schema is not a new version.
    assert book.plan(SUBJECT, _schema()) == first
    assert book.by_id(first.id) == _schema()
    assert book.subjects() == [SUBJECT]


def test_an_incompatible_version_is_refused_with_subject_field_and_types() -> None:
    book = _book_with(SchemaBook().plan(SUBJECT, _schema(Column("A", Db2Type.DECIMAL, 9, 2))))
    with pytest.raises(SchemaIncompatibleError) as caught:
        book.plan(SUBJECT, _schema(Column("A", Db2Type.DECIMAL, 11, 2)))
    error = caught.value
    assert str(error) == (
        "new schema for subject offload.s.t-value is not BACKWARD compatible with version 1: "
        "field A changed type from DECIMAL(9,2) to DECIMAL(11,2)"
    )
    assert (error.subject, error.version, error.field) == (SUBJECT, 1, "A")
    assert (error.old_type, error.new_type) == ("DECIMAL(9,2)", "DECIMAL(11,2)")
    accepted = book.plan(
        SUBJECT, _schema(Column("A", Db2Type.DECIMAL, 11, 2)), accept_incompatible=True
    )
    assert accepted.version == 2


def test_tombstones_and_deleted_versions_leave_ids_resolvable() -> None:
    first = SubjectVersion(SUBJECT, 1, 5, _schema())
    second = SubjectVersion(SUBJECT, 2, 6, _schema(Column("N", Db2Type.INTEGER)))
    book = _book_with(first, second)
    book.apply(storage_key(SUBJECT, 2), None)
    assert book.versions(SUBJECT) == [1]
    deleted = json.loads(storage_value(first))
    deleted["deleted"] = True
    book.apply(storage_key(SUBJECT, 1), json.dumps(deleted).encode())
    assert book.subjects() == []
    assert book.latest(SUBJECT) is None
    assert book.by_id(5) == _schema() and book.by_id(6) is not None


def test_records_other_than_schemas_are_ignored() -> None:
    book = SchemaBook()
    book.apply(
        b'{"keytype":"CONFIG","subject":null,"magic":0}', b'{"compatibilityLevel":"BACKWARD"}'
    )
    book.apply(b'{"keytype":"NOOP","magic":0}', None)
    assert book.subjects() == []


def test_a_record_not_in_the_storage_format_is_reported_with_its_place() -> None:
    with pytest.raises(SchemaStoreError) as caught:
        SchemaBook().apply(storage_key(SUBJECT, 1), b'{"subject":"x"}', "topic p._schemas offset 4")
    assert str(caught.value) == (
        "schema store topic p._schemas offset 4: record is not in the storage format: 'id'"
    )


def test_an_id_taken_by_another_schema_is_refused() -> None:
    schema = _schema()
    squatter = SubjectVersion(
        "other-value", 1, schema_id(schema), _schema(Column("Z", Db2Type.DATE))
    )
    with pytest.raises(SchemaStoreError) as caught:
        _book_with(squatter).plan(SUBJECT, schema)
    assert str(caught.value) == (
        f"schema store subject {SUBJECT}: schema id {schema_id(schema)} is already taken by "
        "another schema"
    )


def test_export_writes_one_avsc_per_subject_version(tmp_path: Path) -> None:
    first = SubjectVersion(SUBJECT, 1, 5, _schema())
    second = SubjectVersion(SUBJECT, 2, 6, _schema(Column("N", Db2Type.INTEGER)))
    key = SubjectVersion("offload.s.t-key", 1, 7, {"type": "record", "name": "Key", "fields": []})
    written = export(_book_with(first, second, key), tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in written] == [
        "offload.s.t-key/v1.avsc",
        "offload.s.t-value/v1.avsc",
        "offload.s.t-value/v2.avsc",
    ]
    assert json.loads((tmp_path / SUBJECT / "v2.avsc").read_text()) == second.schema


def test_an_unreachable_external_registry_is_reported_as_unavailable() -> None:
    store = ConfluentSchemaStore("http://127.0.0.1:9")
    with pytest.raises(SchemaStoreUnavailable) as caught:
        store.subjects()
    assert str(caught.value).startswith("schema store registry http://127.0.0.1:9 is unreachable: ")
