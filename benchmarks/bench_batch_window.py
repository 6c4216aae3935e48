"""Benchmark: the batch window. A nightly batch job's updates, from its first commit until the
read side's watermark reaches its last, beside the ceilings measured in the same run.

1. Base data, in this process with the commands' own code (`offload sor init`, `simulate
   --transactions <--base-transactions> --seed 1`, `reference load`, `cdc run --until-idle`,
   `project run --until-idle`; a process start each costs seconds of the smoke run): at the
   default 3,000 units of work about 52,000 rows the job can update. Then the system of
   record and the projection database are copied for the ceilings.
2. The window: `offload run` on a fresh topic prefix of the benchmark's broker: capture
   (`offload cdc run`) and the projection writer (`offload serve-writer`: the loop of `project
   run` plus the read server through which alone the query side sees the watermark, since
   DuckDB lets no other process open the file) with one serving worker; no reference
   scheduler. Once the API answers at the base's LSN, this process commits the batch
   (`simulators.batch_job.BatchJob`: `--changes` updates in units of `--unit-rows`, spread
   over the shipping tables, as fast as the simulator goes). The window runs from the first
   unit's COMMIT until the query API answers `/freshness?min_lsn=<last LSN>`, as a user
   waiting for the batch would (before the last commit, the watermark is read every 0.5 s
   for the per-unit progress; `batch_window_watch`). Also timed: when capture made each unit
   readable in Kafka (its END marker, read_committed); each process's CPU in the window
   (also per batch event: what a shared machine changes least) and the peak RSS (VmHWM) of
   capture and the writer.
3. Ceilings, the same batch on the copies, each stage alone, `offload run` stopped: the source
   alone (the simulator committing the batch into the copy, nothing capturing), capture alone
   (`Publisher.run(until_idle=True)`, the code of `cdc run --until-idle`, in this process, over
   the batch already committed, after the base was captured into a prefix of its own), apply
   alone (the projection loop, the code of `project run --until-idle`, on the copied database:
   it resumes from the base's positions and applies exactly the batch from the window's
   topics; `projections.idle_ms` 200, included in its time). Each with this process's CPU
   seconds per event. And capture split by table group (`CAPTURE_SPLIT`: the telemetry table,
   half the batch's rows, against the rest), `offload cdc run --until-idle` running a process
   per group over the batch, after the base was captured so into a prefix of its own; its time
   is also given less that of the same command with nothing to publish (process starts,
   connecting, settling), and its CPU is its processes'. The ceiling of both: librdkafka's
   raw idempotent produce (capture's producer settings, no transactions) of the batch's own
   messages, read back from capture alone's topics (every k-th of them kept, at most
   `RAW_SAMPLE`, sent over and over to as many messages as capture published), each to a
   fresh topic of its table.

`--json-out FILE` writes the figures (`offload bench` runs it so). Needs a broker:

    .venv/bin/python benchmarks/bench_batch_window.py --changes 100000 --unit-rows 10000 \
        --bootstrap 127.0.0.1:19292
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from batch_window_watch import CaptureWatch, Timeline, WatermarkWatch  # noqa: E402
from bench_cdc_publish import RawMessage, raw_rate, raw_topic  # noqa: E402

from config import Settings, load_settings  # noqa: E402
from offload.bench_freshness import machine_busy_ticks  # noqa: E402
from offload.bench_gateway import Gateway, gateway_for, serving  # noqa: E402
from offload.bench_procs import ProcessSampler  # noqa: E402
from offload.demo_checks import catch_up, wait_ready  # noqa: E402
from plumbing.topic_reader import Partition, Span, TopicReader  # noqa: E402
from simulators.batch_job import MIX, BatchJob, BatchResult  # noqa: E402
from simulators.sor import SystemOfRecord  # noqa: E402

CONFIG = REPO / "config" / "offload.toml"
REPLAY_IDLE_MS = 200
CAPTURE_SPLIT = {"telemetry": ["SHIPPING.REEFER_TELEMETRY"]}
"""The split measured: REEFER_TELEMETRY, 51 % of the batch's rows, against the other tables."""
RAW_SAMPLE = 200_000
"""The raw producer sends the batch's messages from a sample of at most this many."""
_STARTED = time.monotonic()


def _say(message: str) -> None:
    """A progress line on stderr, with the seconds since the script started."""
    print(f"[{time.monotonic() - _STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


def _copy(source: Path, target: Path) -> None:
    """Copy a database file with its write-ahead log, if one is left."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", ".wal"):
        if (found := Path(f"{source}{suffix}")).exists():
            shutil.copy2(found, f"{target}{suffix}")


def _settings(gateway: Gateway, data_dir: Path, **more: str) -> Settings:
    env = gateway.env | {"OFFLOAD__RUNTIME__DATA_DIR": str(data_dir), **more}
    return load_settings(CONFIG, env=env)


def prepare_base(settings: Settings, base_transactions: int) -> None:
    """The base data on the system of record and on the read side, in this process: the
    code of `offload sor init`, `simulate`, `reference load`, `cdc run --until-idle` and
    `project run --until-idle` (a process start each would cost seconds of the smoke run)."""
    from cdc_ingest.publisher import Publisher
    from projections.runtime import open_projection
    from reference_loader.jobs import select_jobs
    from reference_loader.load import RunOptions, run_job
    from simulators.simulation import SimulationOptions, run_simulation
    from simulators.sor import install_shipping

    _say(f"base: {base_transactions} units of work of the shipping workload")
    with SystemOfRecord.open(settings.sor_path, settings.source.schema_name) as sor:
        install_shipping(sor)
        run_simulation(sor, SimulationOptions(transactions=base_transactions, seed=1))
    _say("base: reference load, capture, projection")
    for job in select_jobs(settings, []):
        run_job(settings, job, RunOptions())
    Publisher(settings).run(until_idle=True)
    with open_projection(settings) as projection:
        projection.consumer().run(threading.Event(), until_idle=True)


def _at(timeline: Timeline, lsns: list[int], since: float) -> list[float | None]:
    """Seconds from `since` until each of `lsns` was reached on `timeline`."""
    out: list[float | None] = []
    for lsn in lsns:
        t = timeline.reached(lsn)
        out.append(None if t is None else round(t - since, 3))
    return out


def _progress(
    commits: list[tuple[float, int]], capture: Timeline, applied: Timeline, since: float
) -> list[dict[str, Any]]:
    """Per unit of work: seconds from the first commit to its commit, capture, watermark."""
    lsns = [lsn for _, lsn in commits]
    captured, seen = _at(capture, lsns, since), _at(applied, lsns, since)
    return [
        {"unit": i + 1, "lsn": lsn, "committed_s": round(t - since, 3), "captured_s": c,
         "applied_s": a}
        for i, ((t, lsn), c, a) in enumerate(zip(commits, captured, seen, strict=True))
    ]  # fmt: skip


def _cpu(sampler: ProcessSampler, mark: float, events: int) -> list[dict[str, Any]]:
    """Each process's CPU since `mark`: % of one core, seconds, and µs per batch event (what
    a busy machine changes least)."""
    cpu, wall = sampler.cpu_percent(mark), time.monotonic() - mark
    rows = [
        {"process": sampler.figures[pid].label, "cpu_pct": pct,
         "cpu_s": round(pct * wall / 100, 2),
         "cpu_us_per_event": round(pct * wall / 100 / max(events, 1) * 1e6, 1)}
        for pid, pct in cpu.items()
        if pid in sampler.figures and pct >= 1
    ]  # fmt: skip
    return sorted(rows, key=lambda r: -float(r["cpu_pct"]))


def _peak(sampler: ProcessSampler, label: str) -> float | None:
    found = [p["peak_rss_mib"] for p in sampler.peaks() if p["process"] == label]
    return float(found[0]) if found else None  # type: ignore[arg-type]


def measure_window(
    gateway: Gateway, changes: int, unit_rows: int, timeout_s: float
) -> dict[str, Any]:
    """Run the batch against `offload run`; the window's figures."""
    settings = gateway.settings
    with (
        SystemOfRecord.open(settings.sor_path, settings.source.schema_name) as sor,
        ProcessSampler([os.getpid()]) as sampler,
    ):
        job = BatchJob(sor, changes, unit_rows)  # reads the tables before the gateway starts
        _say("offload run")
        with serving(gateway) as supervisor:
            return _window(gateway, sor, job, sampler, supervisor, timeout_s=timeout_s)


def _window(
    gateway: Gateway,
    sor: SystemOfRecord,
    job: BatchJob,
    sampler: ProcessSampler,
    supervisor: subprocess.Popen[bytes],
    *,
    timeout_s: float,
) -> dict[str, Any]:
    settings = gateway.settings
    sampler.add_root(supervisor.pid)
    headers = {"X-API-Key": gateway.api_key}
    with httpx.Client(base_url=gateway.base_url, headers=headers) as client:
        wait_ready(client, supervisor)
        base_lsn = sor.newest_lsn()
        catch_up(client, base_lsn)
    sampler.relabel()
    sampler.rename(os.getpid(), "batch job (this script)")
    capture, applied = (
        CaptureWatch(settings),
        WatermarkWatch(gateway.base_url, gateway.api_key, base_lsn),
    )
    capture.start()
    applied.start()
    _say(f"the batch: {len(job.plan)} units of work")
    commits: list[tuple[float, int]] = []
    mark, (busy0, total0) = sampler.mark(), machine_busy_ticks()
    try:
        result = job.run(lambda _, lsn: commits.append((time.monotonic(), lsn)))
        applied.until(result.last_lsn)
        end = applied.timeline.wait(result.last_lsn, timeout_s)
        _say("the read side reached the last LSN")
        captured = capture.timeline.wait(result.last_lsn, 30)
        cpu = _cpu(sampler, mark, result.total_rows)
        busy1, total1 = machine_busy_ticks()
    finally:
        capture.stop()
        applied.stop()
    start = result.first_commit_at
    return {
        "base_lsn": base_lsn,
        "batch": _batch_figures(result),
        "window_s": round(end - start, 3),
        "events_per_s": round(result.total_rows / (end - start)),
        "source_in_window_s": round(result.last_commit_at - start, 3),
        "capture_s": round(captured - start, 3),
        "writer_after_capture_s": round(end - captured, 3),
        "cpu_pct": cpu,
        "machine_cpu_busy_pct": round(100 * (busy1 - busy0) / max(total1 - total0, 1), 1),
        "peak_rss_mib": {
            "capture": _peak(sampler, "offload cdc run"),
            "writer": _peak(sampler, "offload serve-writer"),
        },
        "watermark_requests": applied.requests,
        "units": _progress(commits, capture.timeline, applied.timeline, start),
    }


def _batch_figures(result: BatchResult) -> dict[str, Any]:
    return {
        "units": result.units,
        "rows": result.total_rows,
        "rows_by_table": dict(sorted(result.rows.items())),
        "first_lsn": result.first_lsn,
        "last_lsn": result.last_lsn,
        "seconds": round(result.seconds, 3),
        "rows_per_s": round(result.total_rows / result.seconds),
    }


def measure_ceilings(
    gateway: Gateway, copies: Path, changes: int, unit_rows: int
) -> dict[str, Any]:
    """Source alone, capture alone and apply alone, on the copies (see the module docstring)."""
    from cdc_ingest.publisher import Publisher
    from projections.runtime import open_projection

    prefix = gateway.settings.kafka.topic_prefix
    capture_settings = _settings(
        gateway, copies / "source", OFFLOAD__KAFKA__TOPIC_PREFIX=f"{prefix}-alone"
    )
    _say("ceilings: the base captured into a prefix of its own")
    base = Publisher(capture_settings)
    base.run(until_idle=True)  # the base, into the prefix of its own
    base_events = base.committed.events
    schema = capture_settings.source.schema_name
    topics = {capture_settings.kafka.topic(schema, r.table): f"{schema}.{r.table}" for r in MIX}
    with TopicReader(capture_settings.kafka) as reader:
        base_ends = reader.ends(list(topics))
    split_env = gateway.env | {
        "OFFLOAD__RUNTIME__DATA_DIR": str(copies / "source"),
        "OFFLOAD__KAFKA__TOPIC_PREFIX": f"{prefix}-split",
        "OFFLOAD__CAPTURE__SPLIT": json.dumps(CAPTURE_SPLIT),
    }
    _say("ceilings: the base captured split by table group, into a prefix of its own")
    _capture_split(gateway, split_env)
    split_base = _split_events(split_env)
    with SystemOfRecord.open(capture_settings.sor_path, capture_settings.source.schema_name) as sor:
        job = BatchJob(sor, changes, unit_rows)
        _say("ceilings: the source alone")
        cpu0 = time.process_time()
        source = job.run()
        source_cpu_s = time.process_time() - cpu0
    _say("ceilings: capture alone")
    publisher = Publisher(capture_settings)
    started, cpu0 = time.perf_counter(), time.process_time()
    publisher.run(until_idle=True)
    capture_s, capture_cpu_s = time.perf_counter() - started, time.process_time() - cpu0
    events = publisher.committed.events
    _say("ceilings: librdkafka's raw idempotent produce of the batch's messages")
    messages = _batch_messages(capture_settings, topics, base_ends)
    raw_per_s = raw_rate(capture_settings, messages, events - base_events, None)
    _say("ceilings: capture alone, split by table group")
    split_s, split_cpu_s = _capture_split(gateway, split_env)
    split_events = _split_events(split_env) - split_base
    idle_s, _ = _capture_split(gateway, split_env)  # nothing to publish
    replay = _settings(
        gateway, copies / "replay", OFFLOAD__PROJECTIONS__IDLE_MS=str(REPLAY_IDLE_MS)
    )
    _say("ceilings: apply alone")
    with open_projection(replay) as projection:
        cpu0 = time.process_time()
        summary = projection.consumer().run(threading.Event(), until_idle=True)
        apply_cpu_s = time.process_time() - cpu0
    captured = events - base_events
    return {
        "source_alone": _batch_figures(source) | _cpu_figures(source_cpu_s, source.total_rows),
        "capture_alone": {
            "events": captured,
            "seconds": round(capture_s, 3),
            "events_per_s": round(captured / capture_s),
            **_cpu_figures(capture_cpu_s, captured),
        },
        "capture_split_alone": {
            "split": CAPTURE_SPLIT,
            "events": split_events,
            "seconds": round(split_s, 3),
            "idle_run_s": round(idle_s, 3),
            "events_per_s": round(split_events / max(split_s - idle_s, 1e-3)),
            "events_per_s_with_start": round(split_events / split_s),
            **_cpu_figures(split_cpu_s, split_events),
        },
        "raw_produce": {
            "events": captured,
            "sampled": len(messages),
            "events_per_s": round(raw_per_s),
        },
        "apply_alone": {
            "events": summary.events,
            "units": summary.units,
            "batches": summary.batches,
            "seconds": round(summary.seconds, 3),
            "events_per_s": round(summary.events / summary.seconds),
            "idle_ms_included": REPLAY_IDLE_MS,
            **_cpu_figures(apply_cpu_s, summary.events),
        },
    }


def _batch_messages(
    settings: Settings, topics: dict[str, str], base_ends: dict[Partition, Span]
) -> list[RawMessage]:
    """The batch's messages (those after `base_ends` in `topics`), every k-th kept so that at
    most `RAW_SAMPLE` are, each bound for a fresh topic of its table."""
    raw = {topic: raw_topic(settings, table) for topic, table in topics.items()}
    with TopicReader(settings.kafka) as reader:
        ends = reader.ends(list(topics))
        counts = {w: span.high - base_ends[w].high for w, span in ends.items() if w in base_ends}
        every = max(1, sum(counts.values()) // RAW_SAMPLE)
        kept: list[RawMessage] = []
        for where, count in sorted(counts.items()):
            records = reader.read({where: ends[where]}, timeout_s=120.0, tail=count)
            for i, record in enumerate(records):
                if i % every == 0:
                    kept.append((raw[record.topic], record.key, record.value))
    return kept


def _capture_split(gateway: Gateway, env: dict[str, str]) -> tuple[float, float]:
    """Run `offload cdc run --until-idle` (a process per group); its seconds and CPU seconds
    (its processes', all waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with gateway.log.open("ab") as out:
        code = subprocess.call(
            [*gateway.argv, "cdc", "run", "--until-idle"], env=env, stdout=out, stderr=out
        )
    seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"`offload cdc run --until-idle` split exited {code}; see {gateway.log}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def _split_events(env: dict[str, str]) -> int:
    """Events the split capture published in total (every group's position)."""
    from cdc_ingest.capture_status import capture_status

    return capture_status(load_settings(CONFIG, env=env), 0).events_total


def _cpu_figures(cpu_s: float, events: int) -> dict[str, float]:
    """CPU seconds of this process (all its threads) and µs per event."""
    return {"cpu_s": round(cpu_s, 2), "cpu_us_per_event": round(cpu_s / max(events, 1) * 1e6, 1)}


def main() -> None:
    """Parse arguments, run the three steps, print and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=1_000_000)
    parser.add_argument("--unit-rows", type=int, default=10_000)
    parser.add_argument("--base-transactions", type=int, default=3000)
    parser.add_argument("--bootstrap", default="127.0.0.1:19192")
    parser.add_argument("--topic-prefix", default="bench", help="prefix of every topic written")
    parser.add_argument("--timeout", type=float, default=600.0, help="longest wait, seconds")
    parser.add_argument("--json-out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="bench-batch-window-"))
    prefix = f"{args.topic_prefix}-{uuid.uuid4().hex[:8]}"
    extra = {"OFFLOAD__KAFKA__BOOTSTRAP_SERVERS": args.bootstrap, "OFFLOAD__API__WORKERS": "1"}
    gateway = gateway_for(state / "window", prefix, CONFIG, state / "gateway.log", extra)
    try:
        prepare_base(gateway.settings, args.base_transactions)
        copies = state / "copies"
        _copy(gateway.settings.sor_path, _settings(gateway, copies / "source").sor_path)
        _copy(
            gateway.settings.projections_path,
            _settings(gateway, copies / "replay").projections_path,
        )
        window = measure_window(gateway, args.changes, args.unit_rows, args.timeout)
        ceilings = measure_ceilings(gateway, copies, args.changes, args.unit_rows)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    _say("done")
    figures = _figures(args, window, ceilings)
    _print(figures)
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2))


def _figures(
    args: argparse.Namespace, window: dict[str, Any], ceilings: dict[str, Any]
) -> dict[str, Any]:
    e2e = window["events_per_s"]
    return {
        "changes": args.changes,
        "unit_rows": args.unit_rows,
        "base_transactions": args.base_transactions,
        "cpus": os.cpu_count(),
        **window,
        **ceilings,
        "ratio_vs_source": round(e2e / ceilings["source_alone"]["rows_per_s"], 3),
        "ratio_vs_capture": round(e2e / ceilings["capture_alone"]["events_per_s"], 3),
        "ratio_vs_apply": round(e2e / ceilings["apply_alone"]["events_per_s"], 3),
        "ratio_capture_vs_raw": round(
            ceilings["capture_alone"]["events_per_s"] / ceilings["raw_produce"]["events_per_s"], 3
        ),
        "ratio_split_vs_raw": round(
            ceilings["capture_split_alone"]["events_per_s"]
            / ceilings["raw_produce"]["events_per_s"],
            3,
        ),
    }


def _print(f: dict[str, Any]) -> None:
    b = f["batch"]
    print(
        f"\nbatch: {b['rows']:,} updates in {b['units']} units of {f['unit_rows']:,} "
        f"(LSN {b['first_lsn']}..{b['last_lsn']}), {f['cpus']} CPUs"
    )
    print(f"window (first commit → watermark at the last LSN): {f['window_s']:.2f} s, "
          f"{f['events_per_s']:,} events/s")  # fmt: skip
    print(f"  source committed the rest in {f['source_in_window_s']:.2f} s; capture reached "
          f"the last LSN at {f['capture_s']:.2f} s; the writer {f['writer_after_capture_s']:.2f} "
          "s later")  # fmt: skip
    print("| ceiling, same batch | per s | window / ceiling |\n|---|---:|---:|")
    print(f"| source alone | {f['source_alone']['rows_per_s']:,} rows | {f['ratio_vs_source']} |")
    print(f"| capture alone | {f['capture_alone']['events_per_s']:,} events | "
          f"{f['ratio_vs_capture']} |")  # fmt: skip
    print(f"| apply alone | {f['apply_alone']['events_per_s']:,} events | "
          f"{f['ratio_vs_apply']} |")  # fmt: skip
    split = f["capture_split_alone"]
    print(f"capture alone, split by table group {split['split']}: {split['events_per_s']:,} "
          f"events/s ({split['events_per_s_with_start']:,} with process starts: "
          f"{split['seconds']:.2f} s, {split['idle_run_s']:.2f} s with nothing to publish), "
          f"ratio to one capture {split['events_per_s'] / f['capture_alone']['events_per_s']:.2f}"
          )  # fmt: skip
    print(f"raw idempotent produce of the batch's messages: "
          f"{f['raw_produce']['events_per_s']:,} msg/s; capture alone / raw "
          f"{f['ratio_capture_vs_raw']}, split / raw {f['ratio_split_vs_raw']}")  # fmt: skip
    print("CPU in the window:", ", ".join(
        f"{c['process']} {c['cpu_pct']:.0f} % ({c['cpu_us_per_event']:.0f} µs/event)"
        for c in f["cpu_pct"]))  # fmt: skip
    print("CPU alone, µs/event: " + ", ".join(
        f"{k} {f[k]['cpu_us_per_event']:.0f}"
        for k in ("source_alone", "capture_alone", "apply_alone")))  # fmt: skip
    print(f"peak RSS: capture {f['peak_rss_mib']['capture']} MiB, writer "
          f"{f['peak_rss_mib']['writer']} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
