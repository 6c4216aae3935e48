"""Benchmark: change events/s that `cdc run` publishes, against librdkafka's raw produce rate.

Prepares one seeded simulated Db2 file (`offload sor init` + `offload simulate`), then
publishes it `--runs` times into fresh topic prefixes with the capture publisher (the code of
`offload cdc run --until-idle`, in this process, timed from the start of `run` to its end),
and, in the same run, produces as many messages of the same mean key and value size with a
plain idempotent producer (same topic config, same librdkafka settings): without
transactions, and with one transaction per `capture.max_events_per_transaction` messages.
Prints a Markdown table of the medians and their ratios; `--json-out FILE` writes them as
JSON (`offload bench` runs it so). The raw producers connect and fetch metadata before their
clock starts, as the capture publisher's `init_transactions` does before its own.

    .venv/bin/python benchmarks/bench_cdc_publish.py [--transactions 4000] [--json-out r.json]

Needs a broker: by default the test broker (127.0.0.1:19192, `offload kafka up` with the test
ports or a pytest run leaves one); `--bootstrap` names another.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cdc_ingest.capture_topics import ensure_change_topics  # noqa: E402
from cdc_ingest.publisher import Publisher  # noqa: E402
from cdc_ingest.transactional_producer import producer_config  # noqa: E402
from config import Settings, load_settings  # noqa: E402

CONFIG = REPO / "config" / "offload.toml"


def _settings(data_dir: Path, bootstrap: str, prefix: str) -> Settings:
    env = {
        "OFFLOAD__RUNTIME__DATA_DIR": str(data_dir),
        "OFFLOAD__KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "OFFLOAD__KAFKA__TOPIC_PREFIX": prefix,
    }
    return load_settings(CONFIG, env=env)


def _offload(settings_env: dict[str, str], *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFLOAD")}
    env |= {"OFFLOAD_CONFIG": str(CONFIG), **settings_env}
    subprocess.run([sys.executable, "-m", "offload", *args], cwd=REPO, env=env, check=True)


def prepare(data_dir: Path, bootstrap: str, transactions: int, seed: int) -> None:
    """Create the seeded simulated Db2 file once."""
    env = {
        "OFFLOAD__RUNTIME__DATA_DIR": str(data_dir),
        "OFFLOAD__KAFKA__BOOTSTRAP_SERVERS": bootstrap,
    }
    _offload(env, "sor", "init")
    _offload(env, "simulate", "--transactions", str(transactions), "--seed", str(seed))


def publish(data_dir: Path, bootstrap: str, prefix: str) -> tuple[float, int, Settings]:
    """Publish the whole file into a fresh prefix; (seconds, events, settings)."""
    settings = _settings(data_dir, bootstrap, f"{prefix}-cdc-{uuid.uuid4().hex[:8]}")
    publisher = Publisher(settings)
    start = time.perf_counter()
    publisher.run(until_idle=True)
    return time.perf_counter() - start, publisher.committed.events, settings


def message_sizes(settings: Settings, table: str, sample: int = 20_000) -> tuple[int, int]:
    """Mean key and value size of the first `sample` messages of a change topic."""
    topic = settings.kafka.topic(*table.split("."))
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "group.id": f"bench-{uuid.uuid4().hex}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        keys = values = count = 0
        deadline = time.monotonic() + 60
        while count < sample and time.monotonic() < deadline:
            batch = consumer.consume(1000, timeout=1.0)
            if not batch and count:  # the end of a topic holding fewer than `sample` messages
                break
            for m in batch:
                if m.error() is None and m.value() is not None:
                    keys += len(m.key() or b"")
                    values += len(m.value() or b"")
                    count += 1
        return keys // max(count, 1), values // max(count, 1)
    finally:
        consumer.close()


RawMessage = tuple[str, bytes | None, bytes | None]
"""A message for the raw producer: topic, key, value."""


def raw_topic(settings: Settings, table: str) -> str:
    """A fresh change topic (same config as capture's) named after `table` (SCHEMA.TABLE)."""
    schema, name = table.split(".", 1)
    fresh = f"BENCH_RAW_{uuid.uuid4().hex[:8].upper()}.{schema}_{name}"
    ensure_change_topics(settings.kafka, [fresh])
    return settings.kafka.topic(*fresh.split("."))


def synthetic_messages(settings: Settings, key_size: int, value_size: int) -> list[RawMessage]:
    """4,096 messages of random keys of `key_size` bytes and one value of `value_size`."""
    topic = raw_topic(settings, "BENCH.RAW")
    rng = random.Random(1)
    value = rng.randbytes(value_size)
    return [(topic, rng.randbytes(key_size), value) for _ in range(4096)]


def raw_rate(
    settings: Settings, messages: Sequence[RawMessage], count: int, per_txn: int | None
) -> float:
    """Messages/s of a plain idempotent producer sending `count` messages (`messages` over and
    over, in order), optionally in transactions of `per_txn` messages."""
    config = producer_config(settings, settings.capture.group)
    config.pop("transactional.id")
    if per_txn:
        config["transactional.id"] = f"bench-raw-{uuid.uuid4().hex}"
    producer = Producer(config)
    if per_txn:
        producer.init_transactions(30)
    else:  # connect, fetch metadata and the producer id before the clock starts
        for topic in {topic for topic, _, _ in messages}:
            producer.produce(topic, messages[0][2], messages[0][1])
        producer.flush(30)
    n = len(messages)
    start = time.perf_counter()
    for i in range(count):
        if per_txn and i % per_txn == 0:
            if i:
                producer.commit_transaction(60)
            producer.begin_transaction()
        topic, key, value = messages[i % n]
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
    if per_txn:
        producer.commit_transaction(60)
    producer.flush(60)
    return count / (time.perf_counter() - start)


def main() -> None:
    """Parse arguments, run the measurements, print the table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=4000)  # ~240,000 events
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bootstrap", default="127.0.0.1:19192")
    parser.add_argument("--topic-prefix", default="bench", help="prefix of every topic written")
    parser.add_argument("--json-out", "--out", dest="out", type=Path, help="write JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cdc-") as tmp:
        data_dir = Path(tmp)
        prepare(data_dir, args.bootstrap, args.transactions, args.seed)
        runs = [publish(data_dir, args.bootstrap, args.topic_prefix) for _ in range(args.runs)]
    events = runs[0][1]
    settings = runs[0][2]
    key_size, value_size = message_sizes(settings, "SHIPPING.ORDERS")
    per_txn = settings.capture.max_events_per_transaction
    messages = synthetic_messages(settings, key_size, value_size)
    plain = [raw_rate(settings, messages, events, None) for _ in range(args.runs)]
    txn = [raw_rate(settings, messages, events, per_txn) for _ in range(args.runs)]
    result: dict[str, Any] = {
        "events": events,
        "cdc_events_per_s": [round(n / s) for s, n, _ in runs],
        "raw_per_s": [round(r) for r in plain],
        "raw_txn_per_s": [round(r) for r in txn],
        "key_bytes": key_size,
        "value_bytes": value_size,
        "events_per_transaction": per_txn,
        "cpus": os.cpu_count(),
    }
    cdc = statistics.median(result["cdc_events_per_s"])
    raw, raw_txn = statistics.median(plain), statistics.median(txn)
    result |= {"cdc_median": cdc, "raw_median": round(raw), "raw_txn_median": round(raw_txn)}
    result |= {"ratio_raw": round(cdc / raw, 3), "ratio_raw_txn": round(cdc / raw_txn, 3)}
    print(f"\n{events} events, key {key_size} B, value {value_size} B, {os.cpu_count()} CPUs\n")
    print("| measurement | median msg/s | runs | cdc / this |")
    print("|---|---:|---|---:|")
    print(f"| cdc run (transactional) | {cdc:,.0f} | {result['cdc_events_per_s']} | 1.000 |")
    print(f"| raw, idempotent | {raw:,.0f} | {result['raw_per_s']} | {cdc / raw:.3f} |")
    print(
        f"| raw, 1 txn per {per_txn} | {raw_txn:,.0f} | {result['raw_txn_per_s']} "
        f"| {cdc / raw_txn:.3f} |"
    )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
