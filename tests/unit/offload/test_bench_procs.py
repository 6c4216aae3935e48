"""The process sampler reports only peaks it measured."""

from __future__ import annotations

import subprocess
import sys
import time

from offload.bench_procs import MEASURED_KIB, ProcessFigures, ProcessSampler


def test_a_process_caught_while_it_started_is_left_out_of_the_peaks() -> None:
    sampler = ProcessSampler(roots=[])
    sampler.figures[1] = ProcessFigures(1, "offload run", peak_rss_kib=300 * 1024)
    sampler.figures[2] = ProcessFigures(2, "true", peak_rss_kib=0)
    sampler.figures[3] = ProcessFigures(3, "offload run", peak_rss_kib=MEASURED_KIB - 1)
    sampler.figures[4] = ProcessFigures(4, "sh", peak_rss_kib=MEASURED_KIB - 1)

    assert sampler.peaks() == [{"process": "offload run", "count": 1, "peak_rss_mib": 300.0}]


def test_a_running_python_child_is_measured_with_a_positive_peak() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; b = b'x' * (32 << 20); print(); sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        child.stdout.readline()  # the 32 MiB are resident
        with ProcessSampler([child.pid], interval_s=0.05) as sampler:
            time.sleep(0.1)
    finally:
        child.communicate(b"")

    [peak] = sampler.peaks()
    assert peak["count"] == 1
    assert 32 <= peak["peak_rss_mib"] < 200  # type: ignore[operator]
