"""Jobs handed to the projection loop: run on the loop's thread, answered, never left waiting."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from projections.writer_jobs import WriterBusy, WriterJobs


def _ask(jobs: WriterJobs, work: Any, timeout_s: float, into: dict[str, Any]) -> threading.Thread:
    def run() -> None:
        try:
            into["result"] = jobs.submit(work, timeout_s)
        except Exception as exc:
            into["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _wait_pending(jobs: WriterJobs) -> None:
    for _ in range(500):
        if jobs.pending:
            return
        threading.Event().wait(0.01)
    raise AssertionError("the job never arrived")


def test_a_job_runs_on_the_loops_thread_and_its_result_or_error_returns() -> None:
    jobs = WriterJobs()
    answer: dict[str, Any] = {}
    asker = _ask(jobs, lambda: threading.current_thread().name, 10, answer)
    _wait_pending(jobs)
    assert jobs.run_pending() == 1
    asker.join()
    assert answer == {"result": threading.current_thread().name}

    failed: dict[str, Any] = {}
    asker = _ask(jobs, lambda: 1 / 0, 10, failed)
    _wait_pending(jobs)
    jobs.run_pending()
    asker.join()
    assert isinstance(failed["error"], ZeroDivisionError)
    assert jobs.run_pending() == 0


def test_an_unserved_job_times_out_and_a_stopping_loop_fails_the_rest() -> None:
    jobs = WriterJobs()
    with pytest.raises(
        WriterBusy, match=r"^the projection writer did not run the request in 0.05 s$"
    ):
        jobs.submit(lambda: 1, 0.05)
    answer: dict[str, Any] = {}
    asker = _ask(jobs, lambda: 1, 10, answer)
    _wait_pending(jobs)
    jobs.close()
    asker.join()
    assert str(answer["error"]) == "the projection writer stopped before running the request"
    with pytest.raises(WriterBusy, match="stopping"):
        jobs.submit(lambda: 1, 1)
