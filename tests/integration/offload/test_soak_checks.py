"""The soak's checks can fail: a clean capture passes them; one duplicated change event is
found as one extra event (by `offload reconcile`), one order violation and one incomplete unit
of work; a changed extract as a reference mismatch naming the key."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from config import Settings
from offload.soak_checks import check_reconcile, check_reference, check_stream
from plumbing.topic_reader import TopicReader

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[3]
Run = Callable[..., subprocess.CompletedProcess[str]]


def _ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_clean_capture_passes_and_a_duplicated_event_is_caught(
    kafka_settings: Settings, run_offload: Run
) -> None:
    _ok(run_offload(kafka_settings, "sor", "init"))
    _ok(run_offload(kafka_settings, "simulate", "--transactions", "40", "--seed", "3"))
    _ok(run_offload(kafka_settings, "cdc", "run", "--until-idle"))
    _ok(run_offload(kafka_settings, "project", "run", "--until-idle"))
    clean, stream = check_reconcile(kafka_settings), check_stream(kafka_settings)
    assert clean.expected > 100 and clean.published == clean.expected
    assert (clean.missing, clean.extra, clean.mirror_mismatches) == (0, 0, 0)
    assert clean.mirrors == 6
    assert (stream.order_violations, stream.incomplete_units) == ([], [])
    assert stream.units >= 40

    topic = kafka_settings.kafka.topic("SHIPPING", "ORDERS")
    with TopicReader(kafka_settings.kafka) as reader:
        record = next(r for r in reader.read(reader.ends([topic])) if r.value is not None)
    producer = Producer({"bootstrap.servers": kafka_settings.kafka.bootstrap_servers})
    producer.produce(topic, value=record.value, key=record.key, partition=record.partition)
    assert producer.flush(30) == 0

    caught, stream = check_reconcile(kafka_settings), check_stream(kafka_settings)
    assert (caught.missing, caught.extra) == (0, 1)
    assert any(line.startswith("extra event ('SHIPPING.ORDERS',") for line in caught.samples)
    assert len(stream.order_violations) == 1
    assert f"{topic}[{record.partition}]" in stream.order_violations[0]
    assert len(stream.incomplete_units) == 1
    assert "SHIPPING.ORDERS: END says" in stream.incomplete_units[0]


def test_a_reference_topic_that_differs_from_its_extract_is_caught(
    kafka_broker: Settings, settings_factory: Any, run_offload: Run, tmp_path: Path
) -> None:
    extract = tmp_path / "ports.csv"
    shutil.copyfile(REPO / "config" / "reference" / "ports.csv", extract)
    settings = settings_factory({"reference.jobs.ports.source": str(extract)})
    _ok(run_offload(settings, "reference", "load"))
    assert check_reference(settings) == {"ports": [], "products": [], "vessels": []}

    lines = extract.read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith("NLRTM,Rotterdam,")
    lines[1] = lines[1].replace("Rotterdam", "Rotterdam Europoort")
    extract.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = check_reference(settings)
    assert found["products"] == [] and found["vessels"] == []
    assert len(found["ports"]) == 1
    assert found["ports"][0].startswith('key ["NLRTM"]: topic ')
