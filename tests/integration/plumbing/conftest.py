"""Fixtures of the plumbing tests against the real broker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka import Producer

from config import Settings


@pytest.fixture
def transactional(kafka_settings: Settings) -> Iterator[Producer]:
    """A transactional producer of this test's own (its id carries the test's topic prefix)."""
    producer = Producer(
        {
            **kafka_settings.kafka.client_config(),
            "transactional.id": f"{kafka_settings.kafka.topic_prefix}-tx",
        }
    )
    producer.init_transactions(30)
    yield producer
    producer.flush(10)
