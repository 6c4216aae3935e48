"""Which topics a projection reads, and the mirror each one feeds.

The captured tables are found from the schema store: every subject `<prefix>.<schema>.<table>-value`
whose schema is a change-event `Envelope` is a change topic, mirrored as `<schema>.<table>` from
its latest key and value schemas. Each configured reference name is the topic
`<prefix>.reference.<name>`, mirrored as `reference.<name>` once its subjects exist. Tables or
reference topics that appear later are found by calling `discover` again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from event_contract.registry import SchemaStore
from projections.mirror import MirrorSpec, spec_from_avro

TRANSACTION = "transaction"
REFERENCE = "reference"
_NOT_CHANGE_TOPICS = {TRANSACTION, "dlq", "_schemas", "cdc-offsets"}


@dataclass(frozen=True, slots=True)
class Topology:
    """The topics a projection reads.

    Attributes:
        tx_topic: the transaction metadata topic.
        change: change topic → the mirror of its table.
        reference: reference topic → its mirror (`reference.<name>`).
    """

    tx_topic: str
    change: dict[str, MirrorSpec]
    reference: dict[str, MirrorSpec]

    def topics(self) -> list[str]:
        """Every topic to read: the transaction topic, change topics, reference topics."""
        return [self.tx_topic, *sorted(self.change), *sorted(self.reference)]

    def specs(self) -> list[MirrorSpec]:
        """Every mirror."""
        return [*self.change.values(), *self.reference.values()]

    def topic_of(self, table: str) -> str | None:
        """The change topic of a source table (SCHEMA.TABLE), if it is read."""
        for topic, spec in self.change.items():
            if spec.source_name == table:
                return topic
        return None


def discover(store: SchemaStore, prefix: str, reference_names: Sequence[str]) -> Topology:
    """The topics and mirrors the schema store knows of now.

    Args:
        store: the schema store (`_schemas` topic or registry).
        prefix: the topic prefix.
        reference_names: the configured reference names.
    """
    change: dict[str, MirrorSpec] = {}
    reference: dict[str, MirrorSpec] = {}
    wanted = {f"{prefix}.{REFERENCE}.{name}".lower(): name for name in reference_names}
    for subject in store.subjects():
        if not subject.endswith("-value") or not subject.startswith(prefix + "."):
            continue
        topic = subject[: -len("-value")]
        parts = topic[len(prefix) + 1 :].split(".")
        if topic in wanted:
            spec = _spec(store, topic, REFERENCE.upper(), wanted[topic].upper(), envelope=False)
            if spec is not None:
                reference[topic] = spec
        elif len(parts) == 2 and parts[0] not in _NOT_CHANGE_TOPICS and parts[0] != REFERENCE:
            spec = _spec(store, topic, parts[0].upper(), parts[1].upper(), envelope=True)
            if spec is not None:
                change[topic] = spec
    return Topology(f"{prefix}.{TRANSACTION}", change, reference)


def schema_ids(store: SchemaStore, topics: Sequence[str]) -> list[int]:
    """The ids of the latest key and value schemas of `topics` (of those that have them)."""
    ids = []
    for topic in topics:
        for part in ("key", "value"):
            found = store.latest(f"{topic}-{part}")
            if found is not None:
                ids.append(int(found.id))
    return ids


def _spec(
    store: SchemaStore, topic: str, schema: str, name: str, *, envelope: bool
) -> MirrorSpec | None:
    key = store.latest(f"{topic}-key")
    value = store.latest(f"{topic}-value")
    if key is None or value is None:
        return None
    fields = {f["name"] for f in value.schema.get("fields", [])}
    if envelope != ({"before", "after", "op", "source"} <= fields):
        return None
    return spec_from_avro(schema, name, key.schema, value.schema)
