"""The two `SchemaStore` adapters: the `<prefix>._schemas` topic, or an external registry.

`TopicSchemaStore` (the embedded default) keeps Confluent's storage records in a compacted
single-partition topic. It reads the topic to its end (`plumbing.topic_reader`) on first use,
and registers through a producer its caller passes in, so a transactional caller writes a new
schema in the same Kafka transaction as the first events that use it. Until that
transaction commits the new version is *pending*: call `commit_pending()` after the commit,
`discard_pending()` after an abort (the version is then produced again on the next try).

`ConfluentSchemaStore` wraps `confluent_kafka.schema_registry.SchemaRegistryClient`, used when
`schema_registry.url` is set; it checks compatibility itself first for a clear message.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaException

from event_contract.errors import SchemaStoreError, SchemaStoreUnavailable
from event_contract.registry import Schema, SchemaBook, SubjectVersion, storage_key, storage_value
from plumbing.kafka_errors import KafkaUnavailable
from plumbing.topic_reader import EndNotReached, Record, read_to_end

if TYPE_CHECKING:
    from confluent_kafka import Producer

    from config import KafkaSettings, Settings

logger = logging.getLogger(__name__)

SCHEMAS_TOPIC = "_schemas"
RELOAD_INTERVAL_S = 1.0
"""Seconds before a read re-reads the `_schemas` topic (a missed id, the subject lists)."""
MISSING_ID_WAIT_S = 3.0
"""How long `by_id` keeps re-reading for an id it has never seen (once per id)."""
_MISSING_ID_POLL_S = 0.1


class TopicSchemaStore:
    """Schemas in the compacted `<prefix>._schemas` topic.

    Args:
        kafka: the cluster and the topic prefix.
        producer: produces registrations (transactional or not); settable later as
            `store.producer`, e.g. after the caller recreated its producer.
        timeout_s: how long loading may wait for the broker.
    """

    def __init__(
        self, kafka: KafkaSettings, producer: Producer | None = None, timeout_s: float = 30.0
    ) -> None:
        self.kafka = kafka
        self.topic = kafka.topic(SCHEMAS_TOPIC)
        self.producer = producer
        self.timeout_s = timeout_s
        self._book: SchemaBook | None = None
        self._pending: list[SubjectVersion] = []
        self._loaded_at = 0.0
        self._waited_ids: set[int] = set()

    def ensure_topic(self) -> None:
        """Create the topic (compacted, one partition) unless it exists."""
        from plumbing.topics import ensure_topic

        ensure_topic(self.kafka, self.topic, 1, {"cleanup.policy": "compact"})

    def load(self) -> None:
        """(Re)read every committed record of the topic; pending registrations are kept."""
        book = SchemaBook()
        for record in self._read_committed():
            book.apply(record.key, record.value, f"topic {self.topic} offset {record.offset}")
        for entry in self._pending:
            book.apply(storage_key(entry.subject, entry.version), storage_value(entry))
        self._book = book
        self._loaded_at = time.monotonic()
        logger.debug("loaded %d subjects from %s", len(book.subjects()), self.topic)

    def register(self, subject: str, schema: Schema, *, accept_incompatible: bool = False) -> int:
        """See `SchemaStore.register`; a new version is produced through `self.producer`."""
        book = self._ready()
        entry = book.plan(subject, schema, accept_incompatible)
        if book.version(subject, entry.version) is entry:
            return entry.id
        if self.producer is None:
            raise SchemaStoreError(f"topic {self.topic}", "registering needs a producer")
        key, value = storage_key(subject, entry.version), storage_value(entry)
        try:
            self.producer.produce(self.topic, value=value, key=key, partition=0)
        except (KafkaException, BufferError) as exc:
            raise SchemaStoreUnavailable(f"topic {self.topic}", str(exc)) from exc
        book.apply(key, value)
        self._pending.append(entry)
        logger.info("subject %s: version %d, schema id %d", subject, entry.version, entry.id)
        return entry.id

    def commit_pending(self) -> None:
        """The transaction that carried the pending registrations committed."""
        self._pending.clear()

    def discard_pending(self) -> None:
        """The transaction that carried them aborted: forget them (re-read the topic)."""
        if self._pending:
            self._pending.clear()
            self.load()

    def by_id(self, schema_id: int) -> Schema | None:
        """The schema with this id; an unknown id re-reads the topic.

        A record carrying an id was committed in the same transaction as the id's
        registration, but Kafka writes a transaction's commit markers to each partition
        after the commit returns: for a moment a read_committed reader sees the record and
        not yet the registration. So an id never seen before is re-read for, every 0.1 s, up
        to `MISSING_ID_WAIT_S` (once per id: a record with a bogus id costs that wait once);
        after that, at most once a second.
        """
        found = self._ready().by_id(schema_id)
        if found is not None:
            return found
        if schema_id not in self._waited_ids:
            self._waited_ids.add(schema_id)
            return self._wait_for_id(schema_id)
        if time.monotonic() - self._loaded_at >= RELOAD_INTERVAL_S:
            self.load()
            found = self._ready().by_id(schema_id)
        return found

    def _wait_for_id(self, schema_id: int) -> Schema | None:
        deadline = time.monotonic() + MISSING_ID_WAIT_S
        while True:
            self.load()
            found = self._ready().by_id(schema_id)
            if found is not None or time.monotonic() >= deadline:
                break
            time.sleep(_MISSING_ID_POLL_S)
        if found is None:
            logger.warning(
                "schema id %d is not in %s (waited %g s)", schema_id, self.topic, MISSING_ID_WAIT_S
            )
        return found

    def latest(self, subject: str) -> SubjectVersion | None:
        """The newest version of `subject`, or None (the topic re-read at most once a second)."""
        return self._fresh().latest(subject)

    def subjects(self) -> list[str]:
        """Every subject with a live version, sorted (re-read at most once a second)."""
        return self._fresh().subjects()

    def versions(self, subject: str) -> list[int]:
        """The live versions of `subject`, ascending (re-read at most once a second)."""
        return self._fresh().versions(subject)

    def version(self, subject: str, version: int) -> SubjectVersion | None:
        """One version of `subject`, or None (re-read at most once a second)."""
        return self._fresh().version(subject, version)

    def _fresh(self) -> SchemaBook:
        """The book, re-read first when it is older than the reload interval: the lists a
        reader sees (the registry endpoints of a long-running API) follow other writers."""
        if self._book is not None and time.monotonic() - self._loaded_at >= RELOAD_INTERVAL_S:
            self.load()
        return self._ready()

    def _ready(self) -> SchemaBook:
        if self._book is None:
            self.load()
        assert self._book is not None  # load() sets it
        return self._book

    def _read_committed(self) -> list[Record]:
        # The end of a read_committed read is the last stable offset: it stops before a
        # transaction still open, our own one carrying the pending registrations included.
        records: list[Record] = []
        try:
            for record in read_to_end(self.kafka, [self.topic], self.timeout_s):
                records.append(record)  # kept when the end is not reached in time
        except EndNotReached:
            logger.warning(
                "topic %s: a transaction stayed open for %g s; read what is committed",
                self.topic,
                self.timeout_s,
            )
        except KafkaUnavailable as exc:
            raise SchemaStoreUnavailable(exc.where, exc.reason) from exc
        return records


class ConfluentSchemaStore:
    """Schemas in an external Confluent-compatible schema registry.

    Args:
        url: the registry's URL (`schema_registry.url`).
        basic_auth_user_info: "user:password", or None.
    """

    def __init__(self, url: str, basic_auth_user_info: str | None = None) -> None:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        conf = {"url": url}
        if basic_auth_user_info:
            conf["basic.auth.user.info"] = basic_auth_user_info
        self.url = url
        self._client = SchemaRegistryClient(conf)

    def commit_pending(self) -> None:
        """Nothing is pending: the registry keeps a version as soon as it is registered."""

    def discard_pending(self) -> None:
        """Nothing is pending: a version registered stays, as in any registry."""

    def close(self) -> None:
        """Close the registry client's HTTP session."""
        self._client.close()

    def __enter__(self) -> ConfluentSchemaStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def register(self, subject: str, schema: Schema, *, accept_incompatible: bool = False) -> int:
        """See `SchemaStore.register`; checks BACKWARD compatibility here for a clear message."""
        from confluent_kafka.schema_registry import Schema as RegistrySchema

        text = json.dumps(schema, separators=(",", ":"))
        found = self._call(
            self._client.lookup_schema, subject, RegistrySchema(text, "AVRO"), missing_ok=True
        )
        if found is not None:  # a version the subject has already, newest or not
            return int(found.schema_id)
        book = SchemaBook()
        latest = self.latest(subject)
        if latest is not None:
            book.apply(storage_key(subject, latest.version), storage_value(latest))
            book.plan(subject, schema, accept_incompatible)
        return int(self._call(self._client.register_schema, subject, RegistrySchema(text, "AVRO")))

    def by_id(self, schema_id: int) -> Schema | None:
        """The schema with this id, or None."""
        found = self._call(self._client.get_schema, schema_id, missing_ok=True)
        return None if found is None else _loads(found.schema_str)

    def latest(self, subject: str) -> SubjectVersion | None:
        """The newest version of `subject`, or None."""
        found = self._call(self._client.get_latest_version, subject, missing_ok=True)
        return None if found is None else _entry(found)

    def subjects(self) -> list[str]:
        """Every subject, sorted."""
        return sorted(self._call(self._client.get_subjects))

    def versions(self, subject: str) -> list[int]:
        """The versions of `subject`, ascending."""
        found = self._call(self._client.get_versions, subject, missing_ok=True)
        return sorted(found or [])

    def version(self, subject: str, version: int) -> SubjectVersion | None:
        """One version of `subject`, or None."""
        found = self._call(self._client.get_version, subject, version, missing_ok=True)
        return None if found is None else _entry(found)

    def _call(self, method: Any, *args: Any, missing_ok: bool = False) -> Any:
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            return method(*args)
        except SchemaRegistryError as exc:
            if missing_ok and exc.http_status_code == 404:
                return None
            if exc.http_status_code >= 500 or exc.http_status_code < 0:
                raise SchemaStoreUnavailable(f"registry {self.url}", str(exc)) from exc
            raise SchemaStoreError(f"registry {self.url}", str(exc)) from exc
        except Exception as exc:  # the client's HTTP library raises its own transport errors
            raise SchemaStoreUnavailable(f"registry {self.url}", str(exc)) from exc


def _loads(text: str) -> Schema:
    schema = json.loads(text)
    if not isinstance(schema, dict):
        raise SchemaStoreError("registry", f"schema is not a JSON object: {text[:80]}")
    return schema


def _entry(found: Any) -> SubjectVersion:
    return SubjectVersion(
        found.subject, int(found.version), int(found.schema_id), _loads(found.schema.schema_str)
    )


def store_from_settings(
    settings: Settings, producer: Producer | None = None
) -> TopicSchemaStore | ConfluentSchemaStore:
    """The configured store: the external registry when `schema_registry.url` is set."""
    registry = settings.schema_registry
    if registry.url:
        secret = registry.basic_auth_user_info
        return ConfluentSchemaStore(registry.url, secret.get_secret_value() if secret else None)
    return TopicSchemaStore(settings.kafka, producer)
