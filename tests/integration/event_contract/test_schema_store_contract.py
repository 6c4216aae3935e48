"""The `SchemaStore` contract, run against every implementation that can register here.

- `TopicSchemaStore` on the real test broker: it registers through the producer its caller
  passes in, and a registration is pending until the caller has it delivered and calls
  `commit_pending()` (see `event_contract.schema_stores`); each test settles its
  registrations that way before asking a fresh store.
- `ConfluentSchemaStore` against an external Confluent-compatible registry, only when
  OFFLOAD_TEST_SCHEMA_REGISTRY_URL names one (and OFFLOAD_TEST_SCHEMA_REGISTRY_USER_INFO its
  "user:password", if it needs one). Its ids are the registry's own, and the registry may
  hold other subjects, so the suite checks its own uuid-named subjects there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import Producer

from event_contract.errors import SchemaIncompatibleError
from event_contract.registry import Schema, SchemaStore, SubjectVersion, schema_id
from event_contract.schema_stores import ConfluentSchemaStore, TopicSchemaStore

REGISTRY_URL_ENV = "OFFLOAD_TEST_SCHEMA_REGISTRY_URL"
REGISTRY_USER_INFO_ENV = "OFFLOAD_TEST_SCHEMA_REGISTRY_USER_INFO"


@dataclass
class Backend:
    """One implementation of `SchemaStore` over its backing storage.

    Attributes:
        kind: "topic" or "confluent".
        open: a new store instance on the same backing storage.
        settle: makes a store's registrations committed (a no-op for a registry).
        derived_ids: whether ids are `schema_id(schema)` (else the registry assigns them).
        prefix: the prefix of this test's subjects.
        alone: whether this test's subjects are the only ones in the storage.
    """

    kind: str
    open: Callable[[], SchemaStore]
    settle: Callable[[Any], None]
    derived_ids: bool
    prefix: str
    alone: bool

    def subject(self, name: str) -> str:
        """A subject of this test."""
        return f"{self.prefix}{name}"

    def own_subjects(self, store: SchemaStore) -> list[str]:
        """The subjects of this test in the order `store.subjects()` gives them."""
        listed = store.subjects()
        assert listed == sorted(listed)
        return [s for s in listed if s.startswith(self.prefix)]

    def expected_id(self, returned: int, schema: Schema) -> int:
        """The id a registration must have returned."""
        return schema_id(schema) if self.derived_ids else returned


def _topic_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    settings = request.getfixturevalue("kafka_settings")
    TopicSchemaStore(settings.kafka).ensure_topic()
    producer = Producer(settings.kafka.client_config())

    def settle(store: TopicSchemaStore) -> None:
        assert producer.flush(30) == 0, "a registration was not delivered"
        store.commit_pending()

    yield Backend(
        kind="topic",
        open=lambda: TopicSchemaStore(settings.kafka, producer),
        settle=settle,
        derived_ids=True,
        prefix="",
        alone=True,
    )
    producer.flush(30)


def _confluent_backend() -> Iterator[Backend]:
    url = os.environ.get(REGISTRY_URL_ENV)
    if not url:
        pytest.skip(
            f"{REGISTRY_URL_ENV} is not set: set it to the URL of a Confluent-compatible schema "
            "registry (writable, BACKWARD or NONE compatibility) to run this suite against "
            "ConfluentSchemaStore"
        )
    user_info = os.environ.get(REGISTRY_USER_INFO_ENV) or None
    opened: list[ConfluentSchemaStore] = []

    def open_client() -> ConfluentSchemaStore:
        opened.append(ConfluentSchemaStore(url, user_info))
        return opened[-1]

    yield Backend(
        kind="confluent",
        open=open_client,
        settle=lambda store: None,
        derived_ids=False,
        prefix=f"contract-{uuid.uuid4().hex[:12]}.",
        alone=False,
    )
    for store in opened:
        store.close()


@pytest.fixture(params=[pytest.param("topic", marks=pytest.mark.kafka), "confluent"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Each implementation of `SchemaStore` in turn."""
    if request.param == "topic":
        yield from _topic_backend(request)
    else:
        yield from _confluent_backend()


def test_the_same_schema_twice_is_one_id_and_one_version(backend: Backend, schemas: Any) -> None:
    subject = backend.subject("shipping.orders-value")
    store = backend.open()
    first = store.register(subject, schemas.v1)
    again = store.register(subject, schemas.v1)
    backend.settle(store)
    assert first == again == backend.expected_id(first, schemas.v1)
    assert store.versions(subject) == [1]
    assert store.latest(subject) == SubjectVersion(subject, 1, first, schemas.v1)
    assert store.by_id(first) == schemas.v1
    fresh = backend.open()
    assert fresh.register(subject, schemas.v1) == first
    backend.settle(fresh)
    assert fresh.versions(subject) == [1]


def test_a_backward_compatible_change_is_the_next_version(backend: Backend, schemas: Any) -> None:
    subject = backend.subject("shipping.orders-value")
    store = backend.open()
    first = store.register(subject, schemas.v1)
    second = store.register(subject, schemas.v2)
    backend.settle(store)
    assert second == backend.expected_id(second, schemas.v2)
    assert second != first
    assert store.versions(subject) == [1, 2]
    assert store.latest(subject) == SubjectVersion(subject, 2, second, schemas.v2)
    assert store.version(subject, 1) == SubjectVersion(subject, 1, first, schemas.v1)
    assert store.version(subject, 2) == SubjectVersion(subject, 2, second, schemas.v2)
    assert (store.by_id(first), store.by_id(second)) == (schemas.v1, schemas.v2)


def test_an_incompatible_change_is_refused_naming_the_subject_and_nothing_is_added(
    backend: Backend, schemas: Any
) -> None:
    subject = backend.subject("shipping.orders-value")
    store = backend.open()
    store.register(subject, schemas.v1)
    second = store.register(subject, schemas.v2)
    backend.settle(store)
    with pytest.raises(SchemaIncompatibleError) as caught:
        store.register(subject, schemas.incompatible)
    assert str(caught.value) == (
        f"new schema for subject {subject} is not BACKWARD compatible with version 2: "
        "field AMOUNT changed type from DECIMAL(9,2) to DECIMAL(9,3)"
    )
    refused = caught.value
    assert (refused.subject, refused.version, refused.field) == (subject, 2, "AMOUNT")
    assert (refused.old_type, refused.new_type) == ("DECIMAL(9,2)", "DECIMAL(9,3)")
    backend.settle(store)
    for seen_by in (store, backend.open()):
        assert seen_by.versions(subject) == [1, 2]
        assert seen_by.latest(subject) == SubjectVersion(subject, 2, second, schemas.v2)
    if backend.derived_ids:
        assert store.by_id(schema_id(schemas.incompatible)) is None


def test_an_incompatible_change_can_be_accepted_on_purpose(backend: Backend, schemas: Any) -> None:
    subject = backend.subject("shipping.orders-value")
    store = backend.open()
    store.register(subject, schemas.v1)
    store.register(subject, schemas.v2)
    third = store.register(subject, schemas.incompatible, accept_incompatible=True)
    backend.settle(store)
    assert third == backend.expected_id(third, schemas.incompatible)
    expected = SubjectVersion(subject, 3, third, schemas.incompatible)
    for seen_by in (store, backend.open()):
        assert seen_by.versions(subject) == [1, 2, 3]
        assert seen_by.latest(subject) == expected


def test_an_older_version_registered_again_is_its_id(backend: Backend, schemas: Any) -> None:
    subject = backend.subject("shipping.orders-value")
    store = backend.open()
    narrow = store.register(subject, schemas.narrow)
    wide = store.register(subject, schemas.wide)
    backend.settle(store)
    fresh = backend.open()
    assert fresh.register(subject, schemas.narrow) == narrow
    backend.settle(fresh)
    assert fresh.versions(subject) == [1, 2]
    assert fresh.latest(subject) == SubjectVersion(subject, 2, wide, schemas.wide)


def test_unknown_ids_subjects_and_versions_are_none_or_empty(
    backend: Backend, schemas: Any
) -> None:
    subject = backend.subject("shipping.orders-value")
    unknown = backend.subject("shipping.nothing-value")
    store = backend.open()
    assert store.by_id(schema_id(schemas.never_registered)) is None
    assert store.latest(subject) is None
    store.register(subject, schemas.v1)
    backend.settle(store)
    assert store.by_id(schema_id(schemas.never_registered)) is None
    assert store.version(subject, 99) is None
    assert store.versions(unknown) == []
    assert store.version(unknown, 1) is None
    assert store.latest(unknown) is None


def test_subjects_are_sorted_and_versions_ascending(backend: Backend, schemas: Any) -> None:
    voyages, ports, orders = (
        backend.subject(name)
        for name in ("shipping.voyages-value", "reference.ports-value", "shipping.orders-key")
    )
    store = backend.open()
    for subject in (voyages, ports, orders):
        store.register(subject, schemas.key if subject == orders else schemas.v1)
    store.register(voyages, schemas.v2)
    store.register(voyages, schemas.v3)
    backend.settle(store)
    assert backend.own_subjects(store) == [ports, orders, voyages]
    if backend.alone:
        assert store.subjects() == [ports, orders, voyages]
    assert store.versions(voyages) == [1, 2, 3]
    assert [store.versions(s) for s in (ports, orders)] == [[1], [1]]
    found = [store.version(voyages, n) for n in (1, 2, 3)]
    assert [(v.version, v.schema) for v in found if v is not None] == [
        (1, schemas.v1),
        (2, schemas.v2),
        (3, schemas.v3),
    ]


def test_a_fresh_store_sees_committed_registrations(backend: Backend, schemas: Any) -> None:
    value, key = backend.subject("shipping.orders-value"), backend.subject("shipping.orders-key")
    store = backend.open()
    ids = [
        store.register(value, schemas.v1),
        store.register(value, schemas.v2),
        store.register(key, schemas.key),
    ]
    backend.settle(store)
    fresh = backend.open()
    assert backend.own_subjects(fresh) == [key, value]
    assert fresh.versions(value) == [1, 2]
    assert fresh.versions(key) == [1]
    assert fresh.latest(value) == SubjectVersion(value, 2, ids[1], schemas.v2)
    assert fresh.version(value, 1) == SubjectVersion(value, 1, ids[0], schemas.v1)
    assert fresh.latest(key) == SubjectVersion(key, 1, ids[2], schemas.key)
    assert [fresh.by_id(i) for i in ids] == [schemas.v1, schemas.v2, schemas.key]
