"""Replaying the error table, and finding a key's events in the change topics again.

`replay` decodes an entry's original bytes again (the schema store is re-read, so a schema
registered since resolves) and applies the event on its own: the per-key version makes an
event that is now older than the row a no-op. The entry is closed in the same transaction.
`search_key` scans every change topic from its beginning to its end for the records whose key
holds a value (an order id, say); `offload errors search` applies what it finds the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import duckdb

from config import KafkaSettings
from plumbing.kafka_errors import KafkaUnavailable
from plumbing.topic_reader import Record, TopicReader
from projections.applier import DATA_ERRORS
from projections.decoder import RecordDecoder
from projections.errorlog import ErrorEntry, mark_replayed, set_reason
from projections.errors import ApplyError, DecodeFailure
from projections.events import DecodedChange
from projections.writer import ProjectionWriter

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    """What replaying one entry did.

    Attributes:
        entry_id: the entry.
        outcome: "applied", "no-op" (the row is newer), "closed" (nothing to apply: a
            tombstone or marker), "failed" (still failing: see `reason`), "skipped".
        reason: why it failed or was skipped.
    """

    entry_id: int
    outcome: str
    reason: str = ""


def replay(
    writer: ProjectionWriter, decoder: RecordDecoder, entries: Sequence[ErrorEntry]
) -> list[ReplayOutcome]:
    """Replay error entries, each in its own transaction."""
    return [_replay_one(writer, decoder, entry) for entry in entries]


def _replay_one(
    writer: ProjectionWriter, decoder: RecordDecoder, entry: ErrorEntry
) -> ReplayOutcome:
    r = entry.record
    if entry.status != "open":
        return ReplayOutcome(entry.id, "skipped", f"already {entry.status}")
    if r.topic is None or r.partition is None or r.offset is None or r.kind == "missing":
        return ReplayOutcome(entry.id, "skipped", "no record to replay (events never arrived)")
    raw = Record(r.topic, r.partition, r.offset, r.raw_key, r.raw_value, r.headers)
    try:
        item = decoder.decode(raw)
    except DecodeFailure as exc:
        set_reason(writer.con, entry.id, exc.reason)
        return ReplayOutcome(entry.id, "failed", exc.reason)
    events = [item] if isinstance(item, DecodedChange) else []

    def close(con: duckdb.DuckDBPyConnection) -> None:
        mark_replayed(con, [entry.id])

    try:
        result = writer.replay(events, within=close)
    except ApplyError as exc:
        if not isinstance(exc.__cause__, DATA_ERRORS):
            raise
        set_reason(writer.con, entry.id, exc.reason)
        return ReplayOutcome(entry.id, "failed", exc.reason)
    if not events:
        return ReplayOutcome(entry.id, "closed", "nothing to apply")
    return ReplayOutcome(entry.id, "applied" if result.changed else "no-op")


def key_matches(key: dict[str, object], value: str) -> bool:
    """Whether a decoded key holds `value`: one field equal to it, or all of them joined by ','."""
    texts = [str(v) for v in key.values()]
    return value in texts or ",".join(texts) == value


def search_key(
    kafka: KafkaSettings, decoder: RecordDecoder, value: str, table: str | None = None
) -> Iterator[DecodedChange]:
    """Every change event whose key holds `value`, from the beginning of the change topics.

    Args:
        kafka: the cluster.
        decoder: decodes records of the projection's topology.
        value: the key value to look for (e.g. an ORDER_ID).
        table: only this table (SCHEMA.TABLE), or every captured table.

    Raises:
        KafkaUnavailable: the topics cannot be read.
    """
    topics = [
        t
        for t, spec in decoder.topology.change.items()
        if table is None or spec.source_name == table.upper()
    ]
    try:
        with TopicReader(kafka, f"{kafka.topic_prefix}.errors-search") as reader:
            for record in reader.read(reader.ends(topics), timeout_s=None):
                found = _matching(decoder, record, value)
                if found is not None:
                    yield found
    except KafkaUnavailable as exc:
        raise KafkaUnavailable("searching the change topics", exc.reason) from exc


def _matching(decoder: RecordDecoder, record: Record, value: str) -> DecodedChange | None:
    key = decoder.decode_key(record)
    if key is None or record.value is None or not key_matches(dict(key), value):
        return None
    try:
        decoded = decoder.decode(record)
    except DecodeFailure as exc:
        logger.warning("skipping %s", exc)
        return None
    return decoded if isinstance(decoded, DecodedChange) else None
