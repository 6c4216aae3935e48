"""The soak's verdict once everything has converged: what Kafka and the read models hold
against the sources.

- `offload reconcile` (`offload.reconcile.reconcile`, the operator's command, one
  implementation for both): every capture row published exactly once (missing and extra
  events, counted as Kafka Connect's exactly-once source tests count them) and every mirror
  equal to its source table (row counts and a digest of the exact values);
- the structure of the stream, which reconcile does not look at: per-key order (within a
  partition, each key's events carry strictly increasing (commit LSN, change LSN)) and every
  unit of work complete (each END marker's per-table counts equal the events of that unit);
- every reference topic equal to its extract (latest value per key, tombstones applied).

Everything here only reads: Kafka with read_committed, the capture tables, the extracts, the
DuckDB file read-only.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from config import Settings
from event_contract.codec import Codec
from event_contract.envelope import SNAPSHOT_PREFIX
from event_contract.schema_stores import store_from_settings
from offload.reconcile import reconcile
from plumbing.topic_reader import TopicReader
from plumbing.topics import admin_client

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class StreamCheck:
    """The order and completeness of the change topics."""

    order_violations: list[str] = field(default_factory=list)
    incomplete_units: list[str] = field(default_factory=list)
    units: int = 0


@dataclass(frozen=True, slots=True)
class ReconcileCheck:
    """What `offload reconcile` found: events against capture rows, mirrors against tables."""

    expected: int
    published: int
    missing: int
    extra: int
    mirrors: int
    mirror_mismatches: int
    view_mismatches: int
    views_checked: int
    samples: list[str]


def check_stream(settings: Settings) -> StreamCheck:
    """Per-key order and END-marker completeness of the change topics."""
    out = StreamCheck()
    per_unit, out.order_violations = _order_and_units(settings)
    out.incomplete_units, out.units = _incomplete_units(settings, per_unit)
    return out


def check_reconcile(settings: Settings, wait_s: float = 30.0) -> ReconcileCheck:
    """Run `offload reconcile` over every captured table: the one place the soak reconciles."""
    report = reconcile(settings, None, wait_s)
    events = report.events
    mirrors = [t for t in report.tables if t.kind != "view"]
    views = [t for t in report.tables if t.kind == "view"]
    samples = [f"missing event {k}" for k in events.first_missing]
    samples += [f"extra event {k}" for k in events.first_extra]
    samples += [
        f"{t.kind} {t.mirror} differs: {t.first_differences[:2]}"
        for t in report.tables
        if not t.equal
    ]
    samples += report.notes
    return ReconcileCheck(
        expected=events.expected,
        published=events.published,
        missing=events.missing,
        extra=events.duplicated,
        mirrors=len(mirrors),
        mirror_mismatches=sum(not t.equal for t in mirrors),
        view_mismatches=sum(not t.equal for t in views),
        views_checked=len(views),
        samples=samples,
    )


def _change_topics(settings: Settings) -> list[str]:
    prefix = settings.kafka.topic(settings.source.schema_name) + "."
    names = admin_client(settings.kafka).list_topics(timeout=10).topics
    return sorted(t for t in names if t.startswith(prefix))


def _order_and_units(settings: Settings) -> tuple[Counter[tuple[str, str]], list[str]]:
    """Events per (unit of work, table) and the per-key order violations of the change topics."""
    codec = Codec(lookup=store_from_settings(settings).by_id)
    per_unit: Counter[tuple[str, str]] = Counter()
    violations: list[str] = []
    last: dict[tuple[str, int, bytes], tuple[int, int]] = {}
    with TopicReader(settings.kafka, "offload-soak-audit") as reader:
        ends = reader.ends(_change_topics(settings), timeout_s=30)
        for record in reader.read(ends, timeout_s=None):
            if record.value is None or record.key is None:
                continue
            value = codec.decode(record.value)
            if value["op"] == "r":
                continue
            src = value["source"]
            table = f"{src['schema']}.{src['table']}"
            per_unit[(value["transaction"]["id"], table)] += 1
            where = (record.topic, record.partition, record.key)
            version = (int(src["commit_lsn"]), int(src["change_lsn"]))
            before = last.get(where)
            if before is not None and before >= version:
                violations.append(
                    f"{record.topic}[{record.partition}]@{record.offset}: "
                    f"LSN {version} after {before} for the same key"
                )
            last[where] = version
    return per_unit, violations


def _incomplete_units(
    settings: Settings, per_unit: Counter[tuple[str, str]]
) -> tuple[list[str], int]:
    """END markers whose per-table counts differ from the events found; and how many ENDs."""
    codec = Codec(lookup=store_from_settings(settings).by_id)
    topic = settings.kafka.topic("transaction")
    incomplete: list[str] = []
    units: set[str] = set()
    with TopicReader(settings.kafka, "offload-soak-audit") as reader:
        for record in reader.read(reader.ends([topic], timeout_s=30), timeout_s=None):
            if record.value is None:
                continue
            marker = codec.decode(record.value)
            if marker["status"] != "END" or str(marker["id"]).startswith(SNAPSHOT_PREFIX):
                continue
            units.add(str(marker["id"]))  # one END per capture group that wrote the unit
            for collection in marker.get("data_collections") or []:
                want = int(collection["event_count"])
                got = per_unit[(marker["id"], collection["data_collection"])]
                if got != want:
                    incomplete.append(
                        f"unit {marker['id']} {collection['data_collection']}: "
                        f"END says {want} events, found {got}"
                    )
    return incomplete, len(units)


def check_reference(settings: Settings) -> dict[str, list[str]]:
    """Each reference job's differences between its topic and its extract (empty: equal)."""
    from reference_loader.extract import read_extract
    from reference_loader.jobs import extract_format, jobs_of, resolve_source
    from reference_loader.records import Record

    codec = Codec(lookup=store_from_settings(settings).by_id)
    out: dict[str, list[str]] = {}
    for name, job in sorted(jobs_of(settings).items()):
        keys = list(job.spec.keys)
        extract: dict[str, dict[str, Any]] = {}
        for item in read_extract(resolve_source(job), extract_format(job)):
            if isinstance(item, Record):
                extract[_key_text(item.values, keys)] = item.values
        topic = _topic_state(settings, codec, job.topic, keys)
        diffs = [f"key {k} missing from {job.topic}" for k in sorted(extract.keys() - topic)]
        diffs += [f"key {k} in {job.topic} but not in the extract" for k in topic.keys() - extract]
        diffs += [
            f"key {k}: topic {topic[k]} != extract {extract[k]}"
            for k in sorted(extract.keys() & topic.keys())
            if topic[k] != extract[k]
        ]
        out[name] = diffs
    return out


def _key_text(values: dict[str, Any], keys: list[str]) -> str:
    return json.dumps([values.get(k) for k in keys], default=str)


def _topic_state(
    settings: Settings, codec: Codec, topic: str, keys: list[str]
) -> dict[str, dict[str, Any]]:
    """The latest decoded value per key of a compacted reference topic."""
    state: dict[str, dict[str, Any]] = {}
    with TopicReader(settings.kafka, "offload-soak-audit") as reader:
        for record in reader.read(reader.ends([topic], timeout_s=30), timeout_s=None):
            if record.key is None:
                continue
            key = _key_text(codec.decode(record.key), keys)
            if record.value is None:
                state.pop(key, None)
            else:
                state[key] = codec.decode(record.value)
    return state
