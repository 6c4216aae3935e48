"""The `SubjectReader` contract (plus `by_id`), run against every reader that runs here.

- `SchemaBook`: the in-memory book, filled with the storage records of the registrations.
- `TopicSchemaStore`: the `<prefix>._schemas` topic on the real test broker.
- `ConfluentSchemaStore` pointed at the gateway's own registry endpoints: the query API served
  by uvicorn (as in test_query_api_stock_registry_client.py), over that same topic, asked with
  HTTP Basic and a reader key.

Every backend holds the same registrations, committed (written by capture's way of
registering: `TopicSchemaStore` with a producer, then `commit_pending`), so every reader must
answer exactly the same, and `export` must write the same files from each.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pytest
import uvicorn

from config import ApiKey, Settings
from event_contract.registry import (
    Schema,
    SchemaBook,
    SubjectReader,
    SubjectVersion,
    export,
    schema_id,
    storage_key,
    storage_value,
)
from event_contract.schema_stores import RELOAD_INTERVAL_S, ConfluentSchemaStore, TopicSchemaStore
from query_api import DuckDBLimits, DuckDBReadStore, create_app, lock_down
from query_api.auth import hash_key
from query_api.registry_schemas import RegistrySchemas

READER_KEY = f"reader-{uuid.uuid4().hex}"


class Reader(SubjectReader, Protocol):
    """A `SubjectReader` that also resolves schema ids (each of these readers does)."""

    def by_id(self, schema_id: int) -> Schema | None:
        """The schema with this id, or None."""
        ...


@dataclass
class Backend:
    """A reader implementation over its backing storage.

    Attributes:
        kind: "book", "topic" or "api".
        write: registers a schema under a subject in the storage and commits it.
        open: a new reader over the storage.
    """

    kind: str
    write: Callable[[str, Schema], int]
    open: Callable[[], Reader]


class _Records:
    """The storage records of `_schemas` in memory: what a `SchemaBook` is built from."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes]] = []
        self._planner = SchemaBook()

    def write(self, subject: str, schema: Schema) -> int:
        entry = self._planner.plan(subject, schema)
        if self._planner.version(subject, entry.version) != entry:
            record = (storage_key(subject, entry.version), storage_value(entry))
            self._planner.apply(*record)
            self.records.append(record)
        return entry.id

    def open(self) -> SchemaBook:
        book = SchemaBook()
        for offset, (key, value) in enumerate(self.records):
            book.apply(key, value, f"records offset {offset}")
        return book


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def close_clients(stores: list[ConfluentSchemaStore]) -> None:
    """Close the HTTP clients of `stores`."""
    for store in stores:
        store.close()


@contextmanager
def _serve_registry(settings: Settings) -> Iterator[str]:
    """The query API (registry endpoints over the `_schemas` topic) on a free port."""
    keys = {"contract": ApiKey(role="reader", sha256=hash_key(READER_KEY))}
    api = settings.api.model_copy(update={"keys": keys})
    served = settings.model_copy(update={"api": api})
    con = duckdb.connect(":memory:")
    lock_down(con, DuckDBLimits("256MB", 1))
    app = create_app(served, DuckDBReadStore(con), RegistrySchemas(TopicSchemaStore(served.kafka)))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()
        con.close()


@pytest.fixture(
    params=[
        "book",
        pytest.param("topic", marks=pytest.mark.kafka),
        pytest.param("api", marks=pytest.mark.kafka),
    ]
)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Each reader in turn, over its own empty storage."""
    if request.param == "book":
        records = _Records()
        yield Backend("book", records.write, records.open)
        return
    settings = request.getfixturevalue("kafka_settings")
    writer = request.getfixturevalue("topic_writer")
    if request.param == "topic":
        yield Backend("topic", writer.register, lambda: TopicSchemaStore(settings.kafka))
        return
    opened: list[ConfluentSchemaStore] = []

    def open_client() -> ConfluentSchemaStore:
        opened.append(ConfluentSchemaStore(url, f"any:{READER_KEY}"))
        return opened[-1]

    with _serve_registry(settings) as url:
        yield Backend("api", writer.register, open_client)
        close_clients(opened)


def _fill(backend: Backend, schemas: Any) -> dict[str, list[tuple[int, Schema]]]:
    """Three subjects, registered out of order; their (id, schema) per version."""
    wanted = {
        "offload.shipping.voyages-value": [schemas.v1, schemas.v2, schemas.v3],
        "offload.reference.ports-value": [schemas.v1],
        "offload.shipping.orders-key": [schemas.key],
    }
    written: dict[str, list[tuple[int, Schema]]] = {}
    for subject, versions in wanted.items():
        for schema in versions:
            written.setdefault(subject, []).append((backend.write(subject, schema), schema))
    return written


def test_subjects_are_sorted_and_versions_ascending(backend: Backend, schemas: Any) -> None:
    _fill(backend, schemas)
    reader = backend.open()
    assert reader.subjects() == [
        "offload.reference.ports-value",
        "offload.shipping.orders-key",
        "offload.shipping.voyages-value",
    ]
    assert reader.versions("offload.shipping.voyages-value") == [1, 2, 3]
    assert reader.versions("offload.reference.ports-value") == [1]
    assert reader.versions("offload.shipping.orders-key") == [1]


def test_every_version_reads_back_exactly(backend: Backend, schemas: Any) -> None:
    written = _fill(backend, schemas)
    reader = backend.open()
    for subject, versions in written.items():
        for number, (schema_id_, schema) in enumerate(versions, start=1):
            assert schema_id_ == schema_id(schema)
            assert reader.version(subject, number) == SubjectVersion(
                subject, number, schema_id_, schema
            )
            assert reader.by_id(schema_id_) == schema


def test_an_empty_storage_has_no_subjects(backend: Backend, schemas: Any) -> None:
    reader = backend.open()
    assert reader.subjects() == []
    assert reader.versions("offload.shipping.orders-value") == []
    assert reader.version("offload.shipping.orders-value", 1) is None
    assert reader.by_id(schema_id(schemas.v1)) is None


def test_unknown_versions_subjects_and_ids_are_none_or_empty(
    backend: Backend, schemas: Any
) -> None:
    _fill(backend, schemas)
    reader = backend.open()
    assert reader.version("offload.shipping.voyages-value", 99) is None
    assert reader.version("offload.shipping.voyages-value", 0) is None
    assert reader.versions("offload.shipping.nothing-value") == []
    assert reader.version("offload.shipping.nothing-value", 1) is None
    assert reader.by_id(schema_id(schemas.never_registered)) is None


def test_a_reader_opened_after_a_registration_sees_it(backend: Backend, schemas: Any) -> None:
    subject = "offload.shipping.orders-value"
    first = backend.write(subject, schemas.v1)
    earlier = backend.open()
    assert (earlier.subjects(), earlier.versions(subject)) == ([subject], [1])
    second = backend.write(subject, schemas.v2)
    backend.write("offload.shipping.orders-key", schemas.key)
    if backend.kind == "api":
        # The API's store re-reads the _schemas topic at most once a second.
        time.sleep(RELOAD_INTERVAL_S + 0.1)
    later = backend.open()
    assert later.subjects() == ["offload.shipping.orders-key", subject]
    assert later.versions(subject) == [1, 2]
    assert later.version(subject, 2) == SubjectVersion(subject, 2, second, schemas.v2)
    assert later.version(subject, 1) == SubjectVersion(subject, 1, first, schemas.v1)


def test_export_writes_every_version_as_an_avsc_file(
    backend: Backend, schemas: Any, tmp_path: Path
) -> None:
    written = _fill(backend, schemas)
    files = export(backend.open(), tmp_path / "schemas")
    expected = [
        (subject, number, schema)
        for subject in sorted(written)
        for number, (_, schema) in enumerate(written[subject], start=1)
    ]
    assert [p.relative_to(tmp_path / "schemas").as_posix() for p in files] == [
        f"{subject}/v{number}.avsc" for subject, number, _ in expected
    ]
    for path, (_, _, schema) in zip(files, expected, strict=True):
        # The stores keep the canonical text (sorted keys), so that is what comes back.
        text = path.read_text(encoding="utf-8")
        assert text == json.dumps(schema, indent=2, sort_keys=True) + "\n"
