"""The change topics against the capture tables: missing and extra events, one for one.

Every captured change is expected as (table, commit LSN, change position, op) as often as the
envelope makes it (an update that changes the primary key is a delete plus a create); every
change event in the change topics, read to their end with read_committed
(`plumbing.topic_reader`), is counted the same way, snapshot reads ("r") left out: they restate
rows, they are not changes. Missing = expected - published, extra = published - expected
(multisets, as Kafka Connect's exactly-once tests count them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from cdc_ingest.source import Position, open_source
from config import Settings
from event_contract.codec import Codec
from event_contract.schema_stores import store_from_settings
from plumbing.topic_reader import TopicReader
from plumbing.topics import admin_client

EventKey = tuple[str, int, int, str]
"""(SCHEMA.TABLE, commit LSN, change position, op)."""


@dataclass(frozen=True, slots=True)
class EventReconciliation:
    """Change events in Kafka against the capture rows of the system of record.

    Attributes:
        expected: events the capture rows call for.
        published: change events found in the topics.
        missing: expected events not found (counted with multiplicity).
        duplicated: events found more often than expected, or not expected at all.
        tables: published events per table.
        first_missing: the first few missing events, in order.
        first_extra: the first few extra events, in order.
    """

    expected: int
    published: int
    missing: int
    duplicated: int
    tables: dict[str, int]
    first_missing: tuple[EventKey, ...] = ()
    first_extra: tuple[EventKey, ...] = ()

    @property
    def equal(self) -> bool:
        """Whether every capture row was published exactly once."""
        return self.missing == 0 and self.duplicated == 0


def capture_rows(settings: Settings, tables: Collection[str] | None = None) -> Counter[EventKey]:
    """Every captured change as (table, lsn, seq, op), with the events it must produce.

    Args:
        settings: the configuration (the source).
        tables: only these SCHEMA.TABLE names (upper case); None: every captured table.
    """
    expected: Counter[EventKey] = Counter()
    position = Position(0, 0)
    wanted = None if tables is None else list(tables)
    with open_source(settings) as source:
        while True:
            batch = source.read_changes(position, 50_000, wanted)
            for unit in batch.units:
                for change in unit.changes:
                    for op in _event_ops(
                        change.op.value, change.before, change.after, source, change.table
                    ):
                        expected[(change.table, change.lsn, change.seq, op)] += 1
            if batch.position == position:
                return expected
            position = batch.position


def _event_ops(op: str, before: Any, after: Any, source: Any, table: str) -> list[str]:
    if op == "I":
        return ["c"]
    if op == "D":
        return ["d"]
    keys = source.table(table).primary_key
    if before is not None and after is not None and any(before[k] != after[k] for k in keys):
        return ["d", "c"]
    return ["u"]


def published_events(
    settings: Settings, tables: Collection[str] | None = None
) -> Counter[EventKey]:
    """Every change event in the change topics (read_committed), as (table, lsn, seq, op).

    Args:
        settings: the configuration (the cluster, the topic prefix).
        tables: only the topics of these SCHEMA.TABLE names; None: every change topic.
    """
    store = store_from_settings(settings)
    codec = Codec(lookup=store.by_id)
    prefix = settings.kafka.topic(settings.source.schema_name) + "."
    names = admin_client(settings.kafka).list_topics(timeout=10).topics
    topics = sorted(t for t in names if t.startswith(prefix))
    if tables is not None:
        wanted = {settings.kafka.topic(*t.lower().split(".", 1)) for t in tables}
        topics = [t for t in topics if t in wanted]
    found: Counter[EventKey] = Counter()
    with TopicReader(settings.kafka) as reader:
        for record in reader.read(reader.ends(topics, timeout_s=10), timeout_s=None):
            if record.value is None:
                continue
            value = codec.decode(record.value)
            if value["op"] == "r":
                continue
            src = value["source"]
            table = f"{src['schema']}.{src['table']}"
            found[(table, src["commit_lsn"], src["change_lsn"], value["op"])] += 1
    return found


def reconcile_events(
    settings: Settings, tables: Collection[str] | None = None, show: int = 10
) -> EventReconciliation:
    """Compare capture rows and published events one for one.

    Args:
        settings: the configuration.
        tables: only these SCHEMA.TABLE names; None: every captured table.
        show: how many missing and extra events to name.
    """
    expected = capture_rows(settings, tables)
    found = published_events(settings, tables)
    missing, extra = expected - found, found - expected
    per_table: Counter[str] = Counter()
    for (table, *_rest), count in found.items():
        per_table[table] += count
    return EventReconciliation(
        expected=sum(expected.values()),
        published=sum(found.values()),
        missing=sum(missing.values()),
        duplicated=sum(extra.values()),
        tables=dict(sorted(per_table.items())),
        first_missing=tuple(sorted(missing)[:show]),
        first_extra=tuple(sorted(extra)[:show]),
    )
