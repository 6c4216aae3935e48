"""Benchmark: load a 1,000,000-record EBCDIC product extract into Kafka, end to end.

Writes a product-master-like dataset (RECFM=FB, cp037, 64-byte records, unique 8-character
keys, packed temperatures and price) and reports:

- load: records/s of `run_job` on a fresh topic (decode, validate keys, encode key and value,
  diff against the empty state, produce, commit one transaction, save the state in SQLite);
- reload: records/s of the same job again on the unchanged file (decode, encode, diff: nothing
  published);
- ceilings: decode only (`read_extract`, the plain record-by-record decoder), decode and encode
  only (`encoded_batches`: the column-at-a-time path the load uses, keys and values in the wire
  format, no Kafka), and a raw transactional produce of the same number of messages of the same
  sizes (no decode, no Avro);
- CPU of the load: process time (every thread: Python, the encoding thread, librdkafka's) per
  record, which a machine shared with other work disturbs less than the wall clock;
- peak RSS of the process (getrusage), after the loads and after everything.

Each figure is the median of `--runs` runs (default 3; each load run uses a new topic prefix,
`<--topic-prefix>-<random>`); `--json-out FILE` also writes the figures as JSON.
Needs a broker: default the test broker of tests/conftest.py (127.0.0.1:19192); start one with
`OFFLOAD__KAFKA__LOCAL__PORT=19192 ... offload kafka up` or run the integration tests first.

Run: `.venv/bin/python benchmarks/bench_reference_load.py [--records N] [--runs R] [--json-out F]`
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from pathlib import Path

from confluent_kafka import Producer

from config import Settings, load_settings
from event_contract.codec import Encoder
from event_contract.reference_schemas import reference_key_schema, reference_value_schema
from plumbing.topics import ensure_topic
from reference_loader.batches import encoded_batches
from reference_loader.encoders import encode_record
from reference_loader.extract import ExtractFormat, copybook_format, output_fields, read_extract
from reference_loader.jobs import avro_fields, jobs_of
from reference_loader.layout import load_layout
from reference_loader.load import run_job

ROOT = Path(__file__).resolve().parent.parent
COPYBOOK = (Path(__file__).parent / "copybooks" / "reference_load.cpy").read_text(encoding="utf-8")


def write_extract(path: Path, count: int) -> None:
    """`count` records with unique keys; names repeat every 10,000 to keep generation fast."""
    layout = load_layout(COPYBOOK, source="bench.cpy")
    tails = []
    for n in range(10_000):
        low = Decimal(n % 400 - 250).scaleb(-1)
        record = encode_record(
            layout,
            {
                "product_id": "00000000",
                "product_name": f"Product {n} chilled goods",
                "temp_min": low,
                "temp_max": low + Decimal("4.50"),
                "unit_price": Decimal(n * 37 % 9_999_999).scaleb(-2),
                "shelf_life_days": n % 365 + 1,
                "status_code": "A",
            },
            "cp037",
        )
        tails.append(record[8:])
    with path.open("wb") as out:
        for n in range(count):
            out.write(f"{n:08d}".encode("cp037") + tails[n % 10_000])


def timed(fn: Callable[[], object], cpu: list[float] | None = None) -> float:
    """Wall seconds of `fn()`; its process seconds are appended to `cpu`."""
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    if cpu is not None:
        cpu.append(time.process_time() - start_cpu)
    return time.perf_counter() - start


def encode_only(extract: Path, fmt: ExtractFormat, job_name: str) -> int:
    """Records encoded by the load's reading path (`encoded_batches`), without Kafka."""
    fields = output_fields(fmt)
    keys = [f for f in fields if f.name == "product_id"]
    key_schema = reference_key_schema("bench", job_name, avro_fields(keys))
    value_schema = reference_value_schema("bench", job_name, avro_fields(fields))
    encoders = (Encoder(1, key_schema), Encoder(2, value_schema))
    return sum(len(b.numbers) for b in encoded_batches(extract, fmt, ["product_id"], encoders))


def job_settings(
    base: Settings, extract: Path, copybook: Path, data_dir: Path, prefix: str
) -> Settings:
    job = {
        "format": "copybook",
        "source": str(extract),
        "copybook": str(copybook),
        "keys": ["product_id"],
    }
    env = {
        "OFFLOAD__KAFKA__BOOTSTRAP_SERVERS": base.kafka.bootstrap_servers,
        "OFFLOAD__KAFKA__TOPIC_PREFIX": f"{prefix}-{uuid.uuid4().hex[:8]}",
        "OFFLOAD__RUNTIME__DATA_DIR": str(data_dir),
        "OFFLOAD__REFERENCE__JOBS": json.dumps({"bench": job}),
    }
    return load_settings(ROOT / "config" / "offload.toml", env=env)


def raw_produce(settings: Settings, sizes: tuple[int, int], count: int) -> None:
    """A transactional produce of `count` messages of the given key/value sizes."""
    topic = settings.kafka.topic("reference", "raw")
    ensure_topic(settings.kafka, topic, settings.kafka.partitions, {"cleanup.policy": "compact"})
    producer = Producer(
        {
            **settings.kafka.client_config(),
            "transactional.id": f"bench-raw-{uuid.uuid4().hex}",
            "partitioner": "murmur2_random",
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
            "transaction.timeout.ms": 900_000,
        }
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    value = b"v" * sizes[1]
    for n in range(count):
        key = n.to_bytes(8, "big") + b"k" * (sizes[0] - 8)
        while True:
            try:
                producer.produce(topic, value=value, key=key)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)
    producer.commit_transaction(120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bootstrap", default="127.0.0.1:19192")
    parser.add_argument("--topic-prefix", default="bench", help="prefix of every topic written")
    parser.add_argument("--json-out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    base = load_settings(
        ROOT / "config" / "offload.toml", env={"OFFLOAD__KAFKA__BOOTSTRAP_SERVERS": args.bootstrap}
    )
    n = args.records
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        extract, copybook = work / "products.dat", work / "products.cpy"
        copybook.write_text(COPYBOOK)
        print(f"writing {n:,} records ...", file=sys.stderr)
        write_extract(extract, n)
        fmt = copybook_format(copybook)
        loads: list[float] = []
        reloads: list[float] = []
        load_cpu: list[float] = []
        for run in range(args.runs):
            settings = job_settings(
                base, extract, copybook, work / f"data-{run}", args.topic_prefix
            )
            job = jobs_of(settings)["bench"]
            loads.append(timed(partial(run_job, settings, job), load_cpu))
            reloads.append(timed(partial(run_job, settings, job)))
            print(
                f"run {run + 1}: load {loads[-1]:.1f} s, reload {reloads[-1]:.1f} s",
                file=sys.stderr,
            )
        rss_loads = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        decode = [
            timed(lambda: sum(1 for _ in read_extract(extract, fmt))) for _ in range(args.runs)
        ]
        encode = [timed(lambda: encode_only(extract, fmt, "bench")) for _ in range(args.runs)]
        produce = [
            timed(lambda: raw_produce(base_for_raw(base, args.topic_prefix), (13, 70), n))
            for _ in range(args.runs)
        ]
    rss_all = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = report(
        n,
        runs=args.runs,
        loads=loads,
        reloads=reloads,
        decode=decode,
        encode=encode,
        produce=produce,
        load_cpu=load_cpu,
        rss_loads=rss_loads,
        rss_all=rss_all,
    )
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2))


def base_for_raw(base: Settings, prefix: str) -> Settings:
    env = {
        "OFFLOAD__KAFKA__BOOTSTRAP_SERVERS": base.kafka.bootstrap_servers,
        "OFFLOAD__KAFKA__TOPIC_PREFIX": f"{prefix}-{uuid.uuid4().hex[:8]}",
    }
    return load_settings(ROOT / "config" / "offload.toml", env=env)


def report(
    n: int,
    *,
    runs: int,
    loads: list[float],
    reloads: list[float],
    decode: list[float],
    encode: list[float],
    produce: list[float],
    load_cpu: list[float],
    rss_loads: float,
    rss_all: float,
) -> dict[str, object]:
    """Print the figures; return them (records/s medians, ratios, peak RSS MiB)."""

    def rate(times: list[float]) -> float:
        return n / statistics.median(times)

    load = rate(loads)
    print(f"records: {n:,} (64-byte EBCDIC FB records); median of {runs} run(s)")
    print(f"load (decode, diff, encode, produce, commit, state) : {load:>10,.0f} records/s")
    print(f"reload, unchanged file (nothing published)         : {rate(reloads):>10,.0f} records/s")
    print(f"ceiling: decode only (plain, read_extract)          : {rate(decode):>10,.0f} records/s")
    print(f"ceiling: decode + encode only (encoded_batches)     : {rate(encode):>10,.0f} records/s")
    print(
        f"ceiling: raw transactional produce, same sizes      : {rate(produce):>10,.0f} records/s"
    )
    cpu_us = statistics.median(load_cpu) / n * 1e6
    print(
        f"load / decode-only: {load / rate(decode):.2f}; "
        f"load / decode+encode-only: {load / rate(encode):.2f}; "
        f"load / raw produce: {load / rate(produce):.2f}"
    )
    print(f"load CPU (process time, all threads): {cpu_us:.2f} us/record")
    print(f"peak RSS: {rss_loads:,.0f} MiB after the loads, {rss_all:,.0f} MiB at the end")
    return {
        "records": n,
        "runs": runs,
        "record_bytes": 64,
        "load_per_s": round(load),
        "reload_per_s": round(rate(reloads)),
        "decode_per_s": round(rate(decode)),
        "encode_per_s": round(rate(encode)),
        "raw_produce_per_s": round(rate(produce)),
        "load_cpu_us_per_record": round(cpu_us, 2),
        "ratio_decode": round(load / rate(decode), 3),
        "ratio_encode": round(load / rate(encode), 3),
        "ratio_raw_produce": round(load / rate(produce), 3),
        "load_s": [round(t, 3) for t in loads],
        "peak_rss_mib_loads": round(rss_loads, 1),
        "peak_rss_mib": round(rss_all, 1),
    }


if __name__ == "__main__":
    main()
