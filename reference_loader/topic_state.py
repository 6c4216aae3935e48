"""Rebuild a job's state from its compacted topic (read_committed), for recovery.

Used when the ledger cannot vouch for the state: first load in this data dir, or a run that
crashed with its Kafka outcome unknown. Reading with read_committed after the job's producer
ran `init_transactions` sees exactly the committed loads: a crashed run's open transaction was
aborted by then, a committed one is visible whole. The run ids in the `offload.run_id` header
tell which crashed runs committed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from plumbing.topic_reader import Record, read_to_end
from reference_loader.delta import State, value_hashes
from reference_loader.publisher import RUN_HEADER

if TYPE_CHECKING:
    from config import KafkaSettings

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class TopicState:
    """What the topic holds: the state, and which of the runs asked about it carries."""

    state: State = field(default_factory=dict)
    runs_seen: set[str] = field(default_factory=set)


def read_topic_state(
    kafka: KafkaSettings, topic: str, runs: Collection[str] = (), timeout_s: float = 60.0
) -> TopicState:
    """Read every committed record of `topic` into a state (latest per key; tombstones
    remove keys), noting which of `runs` wrote some of them.

    Raises:
        KafkaUnavailable: the broker did not answer, or the topic did not become readable to
            its end within `timeout_s` (a transaction of another writer stayed open).
    """
    out = TopicState()
    wanted = set(runs)
    group = f"offload-reference-state-{uuid.uuid4().hex}"
    pending: dict[bytes, bytes] = {}  # key → newest value not hashed yet
    for record in read_to_end(kafka, [topic], timeout_s, group):
        _apply(out, pending, record, wanted)
        if len(pending) >= _HASH_BATCH:
            _hash_pending(out, pending)
    _hash_pending(out, pending)
    logger.info("rebuilt the state of %s from the topic: %d keys", topic, len(out.state))
    return out


_HASH_BATCH = 65_536
"""Values hashed at once (`value_hashes`) while the topic is read."""


def _hash_pending(out: TopicState, pending: dict[bytes, bytes]) -> None:
    out.state.update(zip(pending, value_hashes(list(pending.values())), strict=True))
    pending.clear()


def _apply(out: TopicState, pending: dict[bytes, bytes], record: Record, runs: set[str]) -> None:
    if record.key is None:
        return
    if record.value is None:
        out.state.pop(record.key, None)
        pending.pop(record.key, None)
    else:
        pending[record.key] = record.value
    if runs:
        for name, raw in record.headers:
            if name == RUN_HEADER and isinstance(raw, bytes) and raw.decode() in runs:
                out.runs_seen.add(raw.decode())
