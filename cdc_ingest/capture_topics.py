"""The topics capture writes, created by the gateway with the configured partitions.

Change topics `<prefix>.<schema>.<table>` (cleanup.policy=delete, retention.ms =
`kafka.change_retention_ms`, `kafka.partitions` partitions), `<prefix>.transaction` (one
partition, so its order is commit order), and the compacted single-partition
`<prefix>._schemas` and `<prefix>.cdc-offsets`.
"""

from __future__ import annotations

from collections.abc import Iterable

from cdc_ingest.offsets_log import offsets_topic
from cdc_ingest.table_codecs import TRANSACTION_TOPIC
from config import KafkaSettings
from event_contract.schema_stores import SCHEMAS_TOPIC
from plumbing.topics import ensure_topic

_COMPACTED = {"cleanup.policy": "compact"}


def control_topics(kafka: KafkaSettings) -> list[str]:
    """The transaction, `_schemas` and cdc-offsets topics."""
    return [kafka.topic(TRANSACTION_TOPIC), kafka.topic(SCHEMAS_TOPIC), offsets_topic(kafka)]


def ensure_control_topics(kafka: KafkaSettings) -> None:
    """Create the transaction, `_schemas` and cdc-offsets topics unless they exist."""
    ensure_topic(kafka, kafka.topic(TRANSACTION_TOPIC), 1, _change_config(kafka))
    ensure_topic(kafka, kafka.topic(SCHEMAS_TOPIC), 1, _COMPACTED)
    ensure_topic(kafka, offsets_topic(kafka), 1, _COMPACTED)


def ensure_change_topics(kafka: KafkaSettings, tables: Iterable[str]) -> None:
    """Create the change topic of each SCHEMA.TABLE unless it exists."""
    for table in tables:
        schema, name = table.split(".", 1)
        ensure_topic(kafka, kafka.topic(schema, name), kafka.partitions, _change_config(kafka))


def _change_config(kafka: KafkaSettings) -> dict[str, str]:
    return {"cleanup.policy": "delete", "retention.ms": str(kafka.change_retention_ms)}
