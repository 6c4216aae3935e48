"""Work that other threads hand to the projection loop, run between two batches.

The writer's DuckDB connection belongs to the loop's thread (and to the apply thread while a
batch is applied). A request that must write through it from elsewhere, such as an operator
replaying an error-table entry from the console while the writer runs, is queued here and run
by the loop at its next turn, once the batch in progress has committed; the requester waits
for the outcome. A loop that stops fails what is still queued, so no requester waits forever.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from plumbing.errors import Transient
from projections.errors import ProjectionError

logger = logging.getLogger(__name__)


class WriterBusy(ProjectionError, Transient):
    """The projection loop did not take a job in time, or stopped before it could."""


@dataclass(slots=True)
class _Job:
    work: Callable[[], Any]
    done: threading.Event = field(default_factory=threading.Event)
    given_up: bool = False
    result: Any = None
    error: BaseException | None = None


class WriterJobs:
    """A queue of jobs for the projection loop's thread."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._open = True

    @property
    def pending(self) -> bool:
        """Whether a job waits."""
        return not self._queue.empty()

    def submit(self, work: Callable[[], Any], timeout_s: float) -> Any:
        """Have the loop run `work`; return its result or raise its exception.

        Raises:
            WriterBusy: the loop did not finish it within `timeout_s`, or has stopped.
        """
        if not self._open:
            raise WriterBusy("the projection writer is stopping")
        job = _Job(work)
        self._queue.put(job)
        if not job.done.wait(timeout_s):
            job.given_up = True  # not run later, unless the loop has already begun it
            raise WriterBusy(f"the projection writer did not run the request in {timeout_s:g} s")
        if job.error is not None:
            raise job.error
        return job.result

    def run_pending(self) -> int:
        """Run every queued job on this thread (the loop's, between batches); return how many."""
        ran = 0
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return ran
            if job.given_up:
                continue
            try:
                job.result = job.work()
            except Exception as exc:  # handed to the requester, which raises it
                job.error = exc
            finally:
                job.done.set()
            ran += 1

    def close(self) -> None:
        """Refuse new jobs and fail the queued ones (the loop is stopping)."""
        self._open = False
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            job.error = WriterBusy("the projection writer stopped before running the request")
            job.done.set()
