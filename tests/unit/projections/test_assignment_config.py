"""The projection loop's consumer settings that its speed depends on."""

from __future__ import annotations

from confluent_kafka import Consumer

from config import load_settings
from projections import consumer
from projections.assignment import FETCH_QUEUE_BACKOFF_MS, PartitionAssignment


def test_a_full_partition_queue_is_fetched_again_within_a_poll_wait() -> None:
    """librdkafka's default (1,000 ms before fetching again for a partition whose queue was
    full) left the writer idle under backlog; the loop's setting is below its idle poll wait,
    and the librdkafka in use accepts it (it refuses properties it does not know)."""
    config = PartitionAssignment(load_settings(env={}).kafka)._config()

    assert config["fetch.queue.backoff.ms"] == FETCH_QUEUE_BACKOFF_MS
    assert FETCH_QUEUE_BACKOFF_MS < consumer._POLL_S * 1000
    Consumer(config).close()
