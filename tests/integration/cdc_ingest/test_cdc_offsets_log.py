"""A resuming capture group reads its own newest committed position from the shared
`<prefix>.cdc-offsets` partition, also when another group's transaction is open on it (a group
killed while writing leaves one until its successor starts): the read waits for it instead of
stopping at the last stable offset, before this group's newer positions."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Producer

from cdc_ingest.capture_topics import ensure_control_topics
from cdc_ingest.groups import capture_group
from cdc_ingest.offset_context import OffsetContext
from cdc_ingest.offsets_log import offsets_topic, read_log
from cdc_ingest.positions import POSITION_KEY, CapturePosition, record_key
from config import Settings

pytestmark = pytest.mark.kafka

SPLIT = {"telemetry": ["SHIPPING.REEFER_TELEMETRY"]}


def _producer(settings: Settings, group: str) -> Producer:
    tid = f"{settings.kafka.topic_prefix}.cdc.{group}"
    producer = Producer({**settings.kafka.client_config(), "transactional.id": tid})
    producer.init_transactions(30)
    return producer


def _write_position(producer: Producer, settings: Settings, group: str, lsn: int) -> None:
    value = CapturePosition(lsn=lsn, split=SPLIT).to_json()
    topic = offsets_topic(settings.kafka)
    producer.produce(topic, value, record_key(POSITION_KEY, group), partition=0)


def test_a_group_resumes_from_its_newest_position_behind_another_groups_open_transaction(
    settings_factory: Callable[..., Settings], kafka_broker: Settings
) -> None:
    settings = settings_factory({"capture.split": SPLIT})
    ensure_control_topics(settings.kafka)
    mine, other = _producer(settings, "default"), _producer(settings, "telemetry")
    mine.begin_transaction()
    _write_position(mine, settings, "default", 10)
    mine.commit_transaction(30)
    other.begin_transaction()  # the other group's transaction opens between this group's commits
    _write_position(other, settings, "telemetry", 15)
    assert other.flush(30) == 0
    mine.begin_transaction()
    _write_position(mine, settings, "default", 20)
    mine.commit_transaction(30)

    # What a read to the last stable offset sees now: this group's older position only.
    stale = read_log(settings.kafka, "default")
    assert stale.position is not None and stale.position.lsn == 10

    def abort_soon() -> None:
        time.sleep(1.0)
        other.abort_transaction(30)

    aborter = threading.Thread(target=abort_soon)
    aborter.start()
    context = OffsetContext(settings, capture_group(settings, "default"))
    try:
        context.load()  # what a resuming publisher reads
    finally:
        aborter.join()
        context.close()
        for producer in (mine, other):
            producer.flush(10)
    assert (context.committed.lsn, context.state.lsn) == (20, 20)
    assert "telemetry" not in context.operator.other_groups  # its record was aborted
