"""The apply thread: DuckDB applies one batch while the Kafka loop reads and decodes the next.

Decoding is Python (it holds the GIL); a batch's DuckDB transaction mostly is not (DuckDB
releases the GIL while it executes), so on two cores the two overlap. One batch at a time:
`submit` waits for the batch before, so batches commit in order, each with the positions
taken when it was cut. While a batch is applied, only the apply thread touches the writer's
connection; the loop calls `wait` before it does (rediscovery, the end of a run). An error in
the thread is raised again in the loop, at its next `check`, `submit` or `wait`. While jobs run,
the interpreter's switch interval is 0.5 ms (the process hosts this loop; see `submit`).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

_SWITCH_INTERVAL_S = 0.0005


class ApplyWorker:
    """Runs one batch job at a time on a thread of its own."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def busy(self) -> bool:
        """Whether a batch is being applied."""
        return self._thread is not None and self._thread.is_alive()

    def submit(self, job: Callable[[], None]) -> None:
        """Wait for the batch before, then start `job` on the apply thread."""
        self.wait()
        # A job makes a hundred DuckDB calls; after each, the thread needs the GIL back from
        # the decoding loop, which by default keeps it for up to 5 ms.
        sys.setswitchinterval(_SWITCH_INTERVAL_S)
        self._thread = threading.Thread(target=self._run, args=(job,), name="projection-apply")
        self._thread.start()

    def check(self) -> None:
        """Raise the error of a finished job, if it failed."""
        if self._thread is not None and not self._thread.is_alive():
            self.wait()

    def wait(self) -> None:
        """Wait for the running job; raise its error, if it failed."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self, job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as exc:  # re-raised in the loop's thread by wait()
            self._error = exc
