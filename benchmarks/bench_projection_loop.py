"""Benchmark: the real projection loop (Kafka → DuckDB) and the view rebuild, with peak RSS.

Runs the real pipeline against a running broker (default the test broker on 19192): `sor
init`, `simulate --transactions N`, `cdc run --until-idle`, the reference loads, then times
`project run --until-idle` (events applied per second, mirrors plus both views, from a fresh
database) and `project rebuild --all` (source rows read per second), and samples the peak RSS
(VmHWM) of each. A fresh topic prefix (`<--topic-prefix>-<random>`) and data directory each
run; `--json-out FILE` also writes the figures as JSON (`offload bench` runs it so). The rebuild
rate counts the mirror rows the views are rebuilt from, per second of the rebuild itself (as
`project rebuild` reports each view), and also per second of wall time.

    .venv/bin/python benchmarks/bench_projection_loop.py [--transactions 20000] \
        [--bootstrap 127.0.0.1:19192]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROGRESS_S = 30.0
"""How often a running command's progress is said."""


def run(env: dict[str, str], *args: str) -> tuple[str, float, int]:
    """Run `offload ARGS`; return its stdout, wall seconds and peak RSS in KiB.

    Says on stderr when each command starts and ends, and every `PROGRESS_S` while it runs
    (a run stopped early still shows how far it got). The child's output goes to files, not
    pipes: a pipe nobody reads while the child runs would stall it once full.
    """
    command = f"offload {' '.join(args)}"
    _say(f"{command} ...")
    started = time.perf_counter()
    logs = Path(env["OFFLOAD__RUNTIME__DATA_DIR"])
    with (
        (logs / "stdout.log").open("w+") as stdout,
        (logs / "stderr.log").open("w+") as stderr,
    ):
        proc = subprocess.Popen(
            [sys.executable, "-m", "offload", *args],
            cwd=REPO,
            env=env,
            stdout=stdout,
            stderr=stderr,
            text=True,
        )
        peak = 0
        status = Path(f"/proc/{proc.pid}/status")
        said = started
        while proc.poll() is None:
            try:
                found = re.search(r"VmHWM:\s+(\d+)", status.read_text())
                peak = max(peak, int(found.group(1)) if found else 0)
            except OSError:
                pass
            if time.perf_counter() - said >= PROGRESS_S:
                said = time.perf_counter()
                _say(f"{command}: {said - started:.0f} s so far, peak RSS {peak / 1024:.0f} MiB")
            time.sleep(0.05)
        stdout.seek(0)
        stderr.seek(0)
        out, err = stdout.read(), stderr.read()
    seconds = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"{command} failed ({proc.returncode}): {err[-3000:]}")
    _say(f"{command}: done in {seconds:.1f} s, peak RSS {peak / 1024:.0f} MiB")
    return out, seconds, peak


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transactions", type=int, default=20000)
    parser.add_argument("--bootstrap", default="127.0.0.1:19192")
    parser.add_argument("--topic-prefix", default="bench", help="prefix of every topic written")
    parser.add_argument("--json-out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="bench-projection-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFLOAD")}
    env |= {
        "OFFLOAD__RUNTIME__DATA_DIR": str(data),
        "OFFLOAD__KAFKA__BOOTSTRAP_SERVERS": args.bootstrap,
        "OFFLOAD__KAFKA__TOPIC_PREFIX": f"{args.topic_prefix}-{uuid.uuid4().hex[:8]}",
        "OFFLOAD__RUNTIME__LOG_LEVEL": "WARNING",
    }
    run(env, "sor", "init")
    run(env, "simulate", "--transactions", str(args.transactions), "--seed", "1")
    run(env, "cdc", "run", "--until-idle")
    run(env, "reference", "load")
    out, seconds, peak = run(env, "project", "run", "--until-idle")
    events = int(re.search(r"([\d,]+) events in", out).group(1).replace(",", ""))  # type: ignore[union-attr]
    print(out.strip())
    print(
        f"project run --until-idle: {events} events in {seconds:.1f} s wall "
        f"(process start and view builds included) = {events / seconds:,.0f} events/s; "
        f"peak RSS {peak / 1024:.0f} MiB"
    )
    figures: dict[str, object] = {
        "transactions": args.transactions,
        "events": events,
        "project_run_s": round(seconds, 3),
        "events_per_s": round(events / seconds),
        "peak_rss_mib": round(peak / 1024, 1),
    }
    out, seconds, peak = run(env, "project", "rebuild", "--all")
    print(out.strip())
    print(f"project rebuild --all: {seconds:.1f} s wall; peak RSS {peak / 1024:.0f} MiB")
    # Each view's line: "rebuilt V: R rows from N source rows in S s (X source rows/s)"; its
    # own time is N / X (S is rounded to 10 ms).
    views = [
        (int(rows.replace(",", "")), int(rate.replace(",", "")))
        for rows, rate in re.findall(
            r"from ([\d,]+) source rows in [\d.]+ s \(([\d,]+) source", out
        )
    ]
    source_rows = sum(rows for rows, _ in views)
    rebuild_s = sum(rows / rate for rows, rate in views if rate)
    figures |= {
        "rebuild_views": len(views),
        "rebuild_source_rows": source_rows,
        "rebuild_s": round(rebuild_s, 3),
        "rebuild_rows_per_s": round(source_rows / max(rebuild_s, 1e-3)),
        "rebuild_wall_s": round(seconds, 3),
        "rebuild_rows_per_wall_s": round(source_rows / seconds),
        "rebuild_peak_rss_mib": round(peak / 1024, 1),
    }
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
