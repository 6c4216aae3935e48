"""One seeded workload captured under every CD-table flavor (integer, 10-byte and 16-byte log
positions; updates as `U` rows or as `D` + `I` pairs) gives the same change events, read back
by the plain reader (no project code): keys, values, per-key order, unit-of-work boundaries and
END counts, and each event's unit of work and place in it (`transaction`). Capture runs with
small Kafka transactions, so units of work are split across them.

What may differ, and is left out of the comparison: publish times (`ts_ms`), the topic prefix
(`source.name`), and `source.change_lsn` under `D` + `I` (the source's own position of the
change: a merged update takes its `D` row's, and each pair takes two positions); change_lsn
must still rise per key within every run.
"""

from __future__ import annotations

import json
import sqlite3
import types
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from simulators.simulation import SimulationOptions, run_simulation
from simulators.sor import SystemOfRecord, install_shipping

pytestmark = pytest.mark.kafka

TABLES = [
    "SHIPPING.CONTAINERS",
    "SHIPPING.CUSTOMERS",
    "SHIPPING.ORDERS",
    "SHIPPING.ORDER_ASSIGNMENTS",
    "SHIPPING.REEFER_TELEMETRY",
    "SHIPPING.VOYAGES",
]
FLAVORS = [
    ("simulator", False),
    ("simulator", True),
    ("zos", False),
    ("zos", True),
    ("zos-extended", False),
    ("zos-extended", True),
    ("luw", False),
    ("luw", True),
]
WIDTHS = {"simulator": None, "zos": 10, "zos-extended": 16, "luw": 16}


def _normal(value: dict[str, Any]) -> dict[str, Any]:
    """A change event without what legitimately differs between runs (see the docstring)."""
    source = {k: v for k, v in value["source"].items() if k not in ("ts_ms", "name", "change_lsn")}
    return {**{k: v for k, v in value.items() if k != "ts_ms"}, "source": source}


def _topics(plain: types.ModuleType, settings: Settings) -> dict[str, Any]:
    """Each change topic's events per key, in offset order (a key's partition may differ
    between runs: the key's bytes carry its schema id), and the transaction markers."""
    events, markers = plain.read_events(
        settings.kafka.bootstrap_servers, settings.kafka.topic_prefix, TABLES
    )
    out: dict[str, Any] = {}
    for table, messages in events.items():
        by_key: dict[str, list[Any]] = {}
        last: dict[str, tuple[int, int]] = {}
        for m in sorted(messages, key=lambda m: (m.partition, m.offset)):
            key = json.dumps(m.key, sort_keys=True, default=str)
            if m.value is None:  # the tombstone after a delete
                by_key.setdefault(key, []).append(None)
                continue
            version = (m.value["source"]["commit_lsn"], m.value["source"]["change_lsn"])
            assert last.get(key, (0, 0)) < version, (table, m.key, last.get(key), version)
            last[key] = version
            by_key.setdefault(key, []).append(_normal(m.value))
        out[table] = by_key
    out["markers"] = [{k: v for k, v in mk.items() if k != "ts_ms"} for mk in markers]
    return out


def _cd_shape(path: Path) -> tuple[Counter[str], set[tuple[str, int]]]:
    """CD-row operations and (type, byte length) of the sequences, over every CD table."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        ops: Counter[str] = Counter()
        kinds: set[tuple[str, int]] = set()
        for (cd,) in con.execute("SELECT CD_TABLE FROM IBMSNAP_REGISTER").fetchall():
            for op, kind, size in con.execute(
                f"SELECT IBMSNAP_OPERATION, typeof(IBMSNAP_COMMITSEQ), "
                f'length(CAST(IBMSNAP_INTENTSEQ AS BLOB)) FROM "{cd}"'
            ):
                ops[op] += 1
                kinds.add((kind, size if kind == "blob" else 0))
        return ops, kinds
    finally:
        con.close()


def test_every_flavor_gives_the_same_change_events(
    settings_factory: Any,
    kafka_broker: Settings,
    start_offload: Any,
    tmp_path: Path,
    plain: types.ModuleType,
) -> None:
    deployments = {}
    for flavor, pairs in FLAVORS:
        s = settings_factory(
            {
                "source.flavor": flavor,
                "source.updates_as_delete_insert": pairs,
                "capture.max_events_per_transaction": 40,
            }
        )
        with SystemOfRecord.open(
            s.sor_path, flavor=flavor, updates_as_delete_insert=pairs
        ) as sor:  # what `offload sor init` and `offload simulate` do, without two processes
            install_shipping(sor)
            run_simulation(sor, SimulationOptions(transactions=100, seed=11))
        deployments[(flavor, pairs)] = s
    # The eight captures at once (each its own prefix and transactional id): their start-up
    # and idle waits overlap.
    captures = {k: start_offload(s, "cdc", "run", "--until-idle") for k, s in deployments.items()}
    for name, capture in captures.items():
        assert capture.wait(timeout=300) == 0, (name, _logs(tmp_path))
    results = {}
    for (flavor, pairs), s in deployments.items():
        ops, kinds = _cd_shape(s.sor_path)
        # the flavor really is written as asked: sequence type and width, U rows or D + I pairs
        width = WIDTHS[flavor]
        assert kinds == ({("integer", 0)} if width is None else {("blob", width)}), flavor
        assert (ops["U"] == 0) is pairs and ops["D"] > 0 and ops["I"] > 0, (flavor, ops)
        results[(flavor, pairs)] = _topics(plain, s)

    baseline = results[FLAVORS[0]]
    events = [e for t in TABLES for per_key in baseline[t].values() for e in per_key if e]
    assert len(events) > 500
    assert sum(1 for e in events if e["op"] == "u") > 50
    for name, topics in results.items():
        for table in TABLES:
            assert topics[table] == baseline[table], (name, table)
        assert topics["markers"] == baseline["markers"], name


def _logs(tmp_path: Path) -> str:
    return "".join(p.read_text()[-1500:] for p in sorted(tmp_path.glob("cdc-run-*.log")))
