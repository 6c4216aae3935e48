"""The suite's results: `results.json` (the whole run, machine-readable) and `summary.md`.

The results document names the suite, the command, when it started and how long it took, the
host (CPUs, load average at the start, Python, git version of the checkout), the run's state
directory, topic prefix and sizes, the uniform figures (`offload.bench_report.figures_of`) and
every benchmark's own entry; `ok` is whether every benchmark succeeded.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from offload.bench_report import figures_of, markdown
from offload.bench_suite import REPO, BenchRun, suite_command


def results_of(
    run: BenchRun, entries: dict[str, Any], wall_s: float, load: float
) -> dict[str, Any]:
    """The whole results document of `run`.

    Args:
        run: the run.
        entries: each benchmark's results entry, by name.
        wall_s: the suite's wall time, seconds.
        load: the 1-minute load average when the suite started.
    """
    return {
        "schema_version": 1,
        "suite": run.suite,
        "command": suite_command(run.suite),
        "started_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(time.time() - wall_s)),
        "wall_s": round(wall_s, 1),
        "host": {
            "cpus": os.cpu_count(),
            "load_average_start": load,
            "python": platform.python_version(),
            "git": git_version(),
        },
        "run_dir": str(run.directory),
        "topic_prefix": run.topic_prefix,
        "sizes": asdict(run.sizes),
        "figures": figures_of(entries),
        "benchmarks": entries,
        "ok": all(e["status"] == "ok" for e in entries.values()),
    }


def write_results(out: Path, results: dict[str, Any]) -> str:
    """Write results.json and summary.md into `out` (created if needed); return the summary."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    summary = markdown(results)
    (out / "summary.md").write_text(summary)
    return summary


def git_version() -> str:
    """The checkout's short HEAD, marked when tracked files changed; "unknown" without git."""
    try:
        head, dirty = _git("rev-parse", "--short", "HEAD"), _git("status", "--porcelain", "-uno")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}{' (uncommitted changes)' if dirty else ''}"


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, text=True, capture_output=True, check=True)
    return done.stdout.strip()
