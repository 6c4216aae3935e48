"""`offload cdc status`: how far capture has got, how far behind it is, and each table's state.

Figures: the last published LSN (from the committed position), the system of record's newest
LSN, the lag in LSNs and in seconds (commit time of the newest unit of work minus commit time
of the last one published), events per second over the last minute (from the position
records still in the cdc-offsets topic), and per table its latest value schema version and
state: running, waiting on an incompatible change (with the message), or catching up.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from cdc_ingest.offsets_log import OffsetsLog, read_log
from cdc_ingest.positions import CapturePosition
from cdc_ingest.source import open_source
from config import Settings
from event_contract.envelope import epoch_ms
from event_contract.schema_stores import store_from_settings

WINDOW_MS = 60_000
STATES = {"running": "running", "blocked": "waiting on incompatible change"}


@dataclass(frozen=True, slots=True)
class TableStatus:
    """One captured table: its latest value schema version and its state."""

    table: str
    schema_version: int | None
    state: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class GroupStatus:
    """One capture group's figures (capture split by table group; else the one group)."""

    group: str
    last_published_lsn: int
    lag_lsn: int
    lag_seconds: float
    events_per_second: float
    events_total: int


@dataclass(frozen=True, slots=True)
class CaptureStatus:
    """The figures of `cdc status --json`. Split by table group, the LSN and lag are those of
    the group furthest behind (a unit of work is published once every group published it),
    the events those of all groups."""

    last_published_lsn: int
    source_newest_lsn: int
    lag_lsn: int
    lag_seconds: float
    events_per_second: float
    events_total: int
    tables: list[TableStatus] = field(default_factory=list)
    groups: list[GroupStatus] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def events_per_second(history: list[tuple[int, int]], now_ms: int) -> float:
    """Events/s over the minute before `now_ms` from (published_ms, cumulative events) pairs."""
    if not history:
        return 0.0
    start = now_ms - WINDOW_MS
    baseline = next((h for h in reversed(history) if h[0] <= start), None)
    latest = history[-1]
    if baseline is None:
        baseline = (start, 0) if len(history) == 1 else history[0]
    span_ms = max(now_ms - max(baseline[0], start), 1)
    return round(max(latest[1] - baseline[1], 0) * 1000 / span_ms, 1)


def table_state(name: str, position: CapturePosition) -> tuple[str, str | None]:
    """(state text, reason) of a table."""
    table = position.tables.get(name)
    if table is None:
        return "not started", None
    return STATES.get(table.status, table.status.replace("_", " ")), table.reason


def capture_status(settings: Settings, now_ms: int) -> CaptureStatus:
    """Read the committed position, the source and the schemas; compute the figures.

    Before capture has first run (no cdc-offsets topic yet) nothing is published: the lag is
    the whole source and every table is "not started".
    """
    capture = settings.capture
    logs: dict[str, OffsetsLog] = {
        group: read_log(settings.kafka, group, missing_ok=True) for group in capture.groups()
    }
    positions = {group: log.position or CapturePosition() for group, log in logs.items()}
    with open_source(settings) as source:
        names = [r.table for r in source.registrations()]
        newest = source.newest_lsn()
        header = source.uow_header(newest) if newest else None
    newest_ms = epoch_ms(header.commit_time) if header is not None else 0
    groups = []
    for group, position in positions.items():
        last = min(position.lsn, newest)
        lag = max(newest - last, 0)
        lag_s = max(newest_ms - position.commit_ms, 0) / 1000 if lag and position.commit_ms else 0.0
        rate = events_per_second(logs[group].history, now_ms)
        groups.append(GroupStatus(group, last, lag, lag_s, rate, position.events))
    behind = min(groups, key=lambda g: (g.last_published_lsn, -g.lag_seconds))
    store = store_from_settings(settings)
    tables = []
    for name in sorted(names):
        schema, table = name.split(".", 1)
        latest = store.latest(f"{settings.kafka.topic(schema, table)}-value")
        state, reason = table_state(name, positions[capture.owner(name)])
        tables.append(TableStatus(name, latest.version if latest else None, state, reason))
    return CaptureStatus(
        last_published_lsn=behind.last_published_lsn,
        source_newest_lsn=newest,
        lag_lsn=behind.lag_lsn,
        lag_seconds=behind.lag_seconds,
        events_per_second=round(sum(g.events_per_second for g in groups), 1),
        events_total=sum(g.events_total for g in groups),
        tables=tables,
        groups=groups,
    )
