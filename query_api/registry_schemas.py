"""The schema store of the event contract as the query API's `SchemaSource`.

The registry's read endpoints (`/schemas/ids/{id}`, `/subjects/...`) answer from the same
store capture and the reference loader write to: the `<prefix>._schemas` topic, or the external
Confluent-compatible registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from event_contract.errors import SchemaStoreUnavailable
from event_contract.registry import SchemaStore, canonical_text
from plumbing.kafka_errors import KafkaUnavailable
from query_api.errors import SchemaSourceUnavailable


@dataclass(frozen=True, slots=True)
class _Version:
    subject: str
    version: int
    id: int
    schema: str


class RegistrySchemas:
    """The event contract's schema store (the `<prefix>._schemas` topic, or the external registry)
    as the API's `SchemaSource`: schemas as the JSON text the ids were derived from.

    An unreachable store (Kafka or the external registry) is reported as
    `SchemaSourceUnavailable`, which the registry endpoints answer with 503.
    """

    def __init__(self, schemas: SchemaStore) -> None:
        self._schemas = schemas

    def by_id(self, schema_id: int) -> str | None:
        """The schema text of an id, or None."""
        with _store_reachable():
            found = self._schemas.by_id(schema_id)
        return None if found is None else canonical_text(found)

    def subjects(self) -> list[str]:
        """Every subject, sorted."""
        with _store_reachable():
            return self._schemas.subjects()

    def versions(self, subject: str) -> list[int]:
        """The versions of a subject, ascending."""
        with _store_reachable():
            return self._schemas.versions(subject)

    def get(self, subject: str, version: int) -> _Version | None:
        """One version of a subject, or None."""
        with _store_reachable():
            found = self._schemas.version(subject, version)
        if found is None:
            return None
        return _Version(found.subject, found.version, found.id, canonical_text(found.schema))


@contextmanager
def _store_reachable() -> Iterator[None]:
    """Translate the store's "unreachable" errors into the API's `SchemaSourceUnavailable`."""
    try:
        yield
    except (SchemaStoreUnavailable, KafkaUnavailable) as exc:
        raise SchemaSourceUnavailable(str(exc)) from exc
