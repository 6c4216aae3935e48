"""Errors of the reference loader.

`ReferenceLoadError` is the base of every error this package raises. Problems with the job's
declarations (a copybook the decoder cannot lay out, an unknown field type, a CSV header that
lacks a declared column) are `LayoutError`s: terminal, exit code 2, a person fixes the config.
Problems with the data of one record are not raised while reading: readers turn them into
`reader.Reject` values so that a load can count them against its reject limit;
`RejectedRecordError` is what a load raises when it must fail on one.
"""

from __future__ import annotations

from plumbing.errors import EXIT_USAGE, OffloadError, Terminal, Transient


class ReferenceLoadError(OffloadError):
    """Base of the reference loader's errors."""


class LayoutError(ReferenceLoadError, Terminal):
    """A record layout (copybook, declared fields, format options) cannot be used.

    Attributes:
        source: the file or config key the layout came from, or "" when unknown.
        line: the copybook line the problem is on, or None.
    """

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, source: str = "", line: int | None = None) -> None:
        where = " ".join(part for part in (source, f"line {line}" if line else "") if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.source = source
        self.line = line
        self.reason = message


class RejectedRecordError(ReferenceLoadError, Terminal):
    """A record of an extract was rejected and the load allows no (more) rejects.

    Attributes:
        source: the extract file.
        record_number: 1-based number of the record in the extract.
        location: where it is, e.g. "line 12" or "byte offset 4096".
        field: the field at fault, or None for the whole record.
        reason: what is wrong with it.
    """

    def __init__(
        self, source: str, record_number: int, location: str, field: str | None, reason: str
    ) -> None:
        what = f", field {field}" if field else ""
        super().__init__(f"{source}: record {record_number} ({location}){what}: {reason}")
        self.source = source
        self.record_number = record_number
        self.location = location
        self.field = field
        self.reason = reason


class JobConfigError(ReferenceLoadError, Terminal):
    """A reference job's declaration in the config cannot be used (exit code 2).

    Attributes:
        key: the config key at fault, e.g. `reference.jobs.products.cron`.
        reason: what is wrong with it.
    """

    exit_code = EXIT_USAGE

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"config key {key}: {reason}")
        self.key = key
        self.reason = reason


class SourceMissing(ReferenceLoadError, Transient):
    """The job's extract is not there (yet): no file, or no file of the drop folder matches.

    Attributes:
        job: the job name.
        where: the file, or the folder and pattern, that was looked at.
    """

    def __init__(self, job: str, where: str) -> None:
        super().__init__(f"reference job {job}: no extract at {where}")
        self.job = job
        self.where = where


class RejectLimitExceeded(ReferenceLoadError, Terminal):
    """A load met more bad records than its `max_rejects` (or one that ends the file's
    framing); nothing of the run was published.

    Attributes:
        job: the job name.
        source: the extract file.
        first: the error of the record that failed the run (record number, location, field).
        rejected: bad records met before the run stopped.
        reject_file: where the bad records were written.
    """

    def __init__(
        self,
        job: str,
        first: RejectedRecordError,
        rejected: int,
        max_rejects: int,
        reject_file: str,
    ) -> None:
        limit = (
            f"more than max_rejects={max_rejects} bad records" if max_rejects else "a bad record"
        )
        super().__init__(
            f"reference job {job} failed, nothing published ({limit}; see {reject_file}): {first}"
        )
        self.job = job
        self.source = first.source
        self.first = first
        self.rejected = rejected
        self.reject_file = reject_file


class LoadFenced(ReferenceLoadError, Terminal):
    """Another loader of the same job took over its transactional.id; this one stopped
    without publishing.

    Attributes:
        transactional_id: the job's transactional.id.
    """

    def __init__(self, transactional_id: str, reason: str) -> None:
        super().__init__(
            f"reference load fenced: another loader with transactional.id {transactional_id} "
            f"took over ({reason}); this run published nothing"
        )
        self.transactional_id = transactional_id
        self.reason = reason


class LoadCancelled(ReferenceLoadError, Transient):
    """The load was stopped (SIGTERM/SIGINT) before it committed; its transaction was aborted.

    Attributes:
        job: the job name.
    """

    def __init__(self, job: str) -> None:
        super().__init__(f"reference job {job} was stopped; its transaction was aborted")
        self.job = job


class JobBusy(ReferenceLoadError, Transient):
    """Another process of this data dir is running the job (its lock file is held).

    Attributes:
        job: the job name.
        lock_file: the lock file.
    """

    def __init__(self, job: str, lock_file: str) -> None:
        super().__init__(f"reference job {job} is already running (lock {lock_file} is held)")
        self.job = job
        self.lock_file = lock_file
