"""Reference jobs as the config declares them: where the extract is, how to read it, where it
goes, and when it runs.

Job `NAME` loads into the compacted topic `<prefix>.reference.NAME` with transactional.id
`<prefix>.reference.NAME`, so a second loader of the same job fences the first. Paths in a
job (source, directory, copybook) are relative to the working directory, like
`runtime.data_dir`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from event_contract.reference_schemas import DeclaredField
from reference_loader.errors import JobConfigError, SourceMissing
from reference_loader.extract import ExtractFormat, copybook_format, csv_format, jsonl_format
from reference_loader.fieldtypes import ExtractField, TypeName

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

    from config import ReferenceJobSettings, Settings

_AVRO_TYPE = {
    TypeName.STRING: "string",
    TypeName.INT: "long",
    TypeName.DATE: "date",
    TypeName.TIMESTAMP: "timestamp",
    TypeName.BOOL: "boolean",
}


@dataclass(frozen=True, slots=True)
class Job:
    """One declared reference job.

    Attributes:
        name: the job name (also the topic's last part).
        spec: its config section.
        topic: `<prefix>.reference.<name>`.
        transactional_id: the Kafka transactional.id of its loads.
    """

    name: str
    spec: ReferenceJobSettings
    topic: str
    transactional_id: str

    @property
    def key(self) -> str:
        """The config key of the job, for messages."""
        return f"reference.jobs.{self.name}"


def jobs_of(settings: Settings) -> dict[str, Job]:
    """Every declared job, by name, in config order."""
    out = {}
    for name, spec in settings.reference.jobs.items():
        topic = settings.kafka.topic("reference", name)
        out[name] = Job(name, spec, topic, topic)
    return out


def select_jobs(settings: Settings, names: Sequence[str]) -> list[Job]:
    """The jobs named (all when `names` is empty).

    Raises:
        JobConfigError: a name that no job has.
    """
    jobs = jobs_of(settings)
    unknown = [n for n in names if n not in jobs]
    if unknown:
        known = ", ".join(jobs) or "none"
        raise JobConfigError(f"reference.jobs.{unknown[0]}", f"no such job (declared: {known})")
    return [jobs[n] for n in names] if names else list(jobs.values())


def extract_format(job: Job) -> ExtractFormat:
    """The reading format of the job's extract (reads the copybook, if any).

    Raises:
        LayoutError: the copybook or the declared fields cannot be used.
    """
    spec = job.spec
    if spec.format == "copybook":
        assert spec.copybook is not None  # the settings validator requires it
        return copybook_format(
            spec.copybook, recfm=spec.recfm, codepage=spec.codepage, redefines=spec.redefines
        )
    if spec.format == "csv":
        return csv_format(spec.fields, delimiter=spec.delimiter, encoding=spec.encoding)
    return jsonl_format(spec.fields, encoding=spec.encoding)


def resolve_source(job: Job) -> Path:
    """The extract file to load: `source`, or the newest file of the drop folder matching
    `glob` (by modification time, then name).

    Raises:
        SourceMissing: the file does not exist, or no file matches.
    """
    spec = job.spec
    if spec.source is not None:
        if not spec.source.is_file():
            raise SourceMissing(job.name, str(spec.source))
        return spec.source
    assert spec.directory is not None and spec.glob is not None
    found = [p for p in spec.directory.glob(spec.glob) if p.is_file()]
    if not found:
        raise SourceMissing(job.name, f"{spec.directory / spec.glob}")
    return max(found, key=lambda p: (p.stat().st_mtime_ns, p.name))


def avro_fields(fields: Sequence[ExtractField]) -> list[DeclaredField]:
    """The reader's typed fields as the event contract declares them (int is a 64-bit long)."""
    out = []
    for field in fields:
        ftype = field.type
        if ftype.name is TypeName.DECIMAL:
            text = f"decimal({ftype.precision},{ftype.scale})"
        else:
            text = _AVRO_TYPE[ftype.name]
        out.append(DeclaredField(field.name, text, field.nullable))
    return out


def key_fields(job: Job, fields: Sequence[ExtractField]) -> list[ExtractField]:
    """The job's key fields, typed, in key order.

    Raises:
        JobConfigError: a key that is not one of the extract's fields, or a nullable one.
    """
    by_name = {f.name: f for f in fields}
    out = []
    for name in job.spec.keys:
        field = by_name.get(name)
        if field is None:
            known = ", ".join(by_name)
            raise JobConfigError(f"{job.key}.keys", f"'{name}' is not a field (fields: {known})")
        out.append(field)
    return out


def trigger_of(job: Job) -> BaseTrigger | None:
    """The APScheduler trigger of the job's schedule, or None when it has none (load only).

    Raises:
        JobConfigError: the cron expression does not parse.
    """
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    spec = job.spec
    if spec.interval_s is not None:
        return IntervalTrigger(seconds=spec.interval_s)
    if spec.cron is None:
        return None
    try:
        return CronTrigger.from_crontab(spec.cron)
    except ValueError as exc:
        raise JobConfigError(f"{job.key}.cron", f"'{spec.cron}' is not valid: {exc}") from exc


def next_fire_time(job: Job) -> Any:
    """When the job's trigger fires next from now (an aware datetime), or None."""
    from datetime import datetime

    trigger = trigger_of(job)
    if trigger is None:
        return None
    now = datetime.now().astimezone()
    return trigger.get_next_fire_time(None, now)
