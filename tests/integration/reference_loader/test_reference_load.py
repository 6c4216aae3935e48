"""Reference loads against the real broker, each checked by reading the compacted topic back
with a plain read_committed consumer (conftest.TopicReader), not with the loader's code."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from reference_loader.errors import RejectLimitExceeded
from reference_loader.jobs import jobs_of
from reference_loader.ledger import Ledger
from reference_loader.load import reference_dir, run_job

pytestmark = pytest.mark.kafka

SAMPLES = Path(__file__).resolve().parents[3] / "config" / "reference"
PORT_FIELDS = {
    "unlocode": "string(5)",
    "name": "string",
    "country": "string(2)",
    "time_zone": "string",
}
VESSEL_FIELDS = {"vessel_id": "string", "name": "string", "reefer_capacity": "int"}


def csv_job(path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "format": "csv",
        "source": str(path),
        "keys": ["unlocode"],
        "fields": PORT_FIELDS,
        **extra,
    }


def jsonl_job(path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "format": "jsonl",
        "source": str(path),
        "keys": ["vessel_id"],
        "fields": VESSEL_FIELDS,
        **extra,
    }


@pytest.fixture
def with_jobs(
    kafka_broker: Settings, settings_factory: Callable[..., Settings]
) -> Callable[..., Settings]:
    def make(**jobs: dict[str, Any]) -> Settings:
        return settings_factory({"reference.jobs": jobs})

    return make


def load(settings: Settings, name: str) -> Any:
    return run_job(settings, jobs_of(settings)[name])


def test_products_load_publishes_every_record_of_the_ebcdic_extract(
    with_jobs: Callable[..., Settings], topic_reader: Any
) -> None:
    settings = with_jobs(
        products={
            "format": "copybook",
            "source": str(SAMPLES / "products.dat"),
            "copybook": str(SAMPLES / "products.cpy"),
            "keys": ["product_id"],
        }
    )
    report = load(settings, "products")
    assert (report.status, report.counts.read, report.counts.new) == ("loaded", 12, 12)
    messages = topic_reader.messages(settings, "products")
    assert len(messages) == 12
    first = min(messages, key=lambda m: m.key["product_id"])
    assert set(first.value) == {
        "product_id",
        "product_name",
        "temp_min",
        "temp_max",
        "unit_price",
        "status_code",
        "record_version",
    }
    assert isinstance(first.value["temp_min"], Decimal)
    assert first.key == {"product_id": first.value["product_id"]}


def test_unchanged_reload_publishes_nothing(
    with_jobs: Callable[..., Settings], topic_reader: Any
) -> None:
    settings = with_jobs(ports=csv_job(SAMPLES / "ports.csv"))
    load(settings, "ports")
    before = topic_reader.messages(settings, "ports")
    report = load(settings, "ports")
    assert (report.status, report.counts.unchanged, report.counts.published) == ("unchanged", 16, 0)
    assert report.kafka_outcome == "none"
    assert topic_reader.messages(settings, "ports") == before
    with Ledger(reference_dir(settings) / "ledger.sqlite") as ledger:
        runs = ledger.last_runs("ports")
    assert [r.status for r in runs] == ["unchanged", "loaded"]
    assert runs[0].source_sha256 == runs[1].source_sha256 and len(runs[0].source_sha256 or "") == 64


def test_a_ledger_from_before_the_value_hash_was_named_republishes_nothing(
    with_jobs: Callable[..., Settings], topic_reader: Any, tmp_path: Path
) -> None:
    """A ledger written by an earlier Offload kept blake2b hashes in `state` rows and no
    value_hash: its state is rebuilt from the topic once, so an unchanged extract still
    publishes nothing, and a changed record is still found."""
    extract = tmp_path / "ports.csv"
    shutil.copy(SAMPLES / "ports.csv", extract)
    settings = with_jobs(ports=csv_job(extract))
    load(settings, "ports")
    before = topic_reader.messages(settings, "ports")
    with Ledger(reference_dir(settings) / "ledger.sqlite") as ledger:
        con = ledger.con
        con.execute("DELETE FROM state_chunks")
        con.execute("UPDATE state_meta SET value_hash = NULL")
        # What the earlier ledger held: a row a key, blake2b of nothing in particular.
        con.execute("INSERT INTO state VALUES ('ports', x'00', 1)")
    report = load(settings, "ports")
    assert (report.status, report.counts.unchanged, report.counts.published) == ("unchanged", 16, 0)
    assert topic_reader.messages(settings, "ports") == before
    lines = extract.read_text().splitlines()
    extract.write_text("\n".join([lines[0], lines[1].replace("Rotterdam", "R'dam"), *lines[2:]]))
    report = load(settings, "ports")
    c = report.counts
    assert (c.new, c.changed, c.deleted, c.unchanged) == (0, 1, 0, 15)


def test_changed_extract_publishes_one_update_and_one_tombstone(
    with_jobs: Callable[..., Settings], topic_reader: Any, tmp_path: Path
) -> None:
    extract = tmp_path / "ports.csv"
    shutil.copy(SAMPLES / "ports.csv", extract)
    settings = with_jobs(ports=csv_job(extract))
    load(settings, "ports")
    before = topic_reader.messages(settings, "ports")
    lines = extract.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    changed = rows[0].replace("Rotterdam", "Rotterdam Maasvlakte")
    removed_key = rows[1].split(",")[0]
    extract.write_text("\n".join([header, changed, *rows[2:]]) + "\n")
    report = load(settings, "ports")
    c = report.counts
    assert (c.new, c.changed, c.deleted, c.unchanged) == (0, 1, 1, 14)
    after = topic_reader.messages(settings, "ports")
    new = [m for m in after if m not in before]
    assert len(new) == 2
    update = next(m for m in new if m.value is not None)
    tombstone = next(m for m in new if m.value is None)
    assert update.value["name"] == "Rotterdam Maasvlakte"
    assert tombstone.key == {"unlocode": removed_key}
    assert len(topic_reader.table(settings, "ports", "unlocode")) == 15


def test_bad_extract_fails_naming_record_and_field_and_publishes_nothing(
    with_jobs: Callable[..., Settings], topic_reader: Any, tmp_path: Path
) -> None:
    extract = tmp_path / "vessels.jsonl"
    lines = (SAMPLES / "vessels.jsonl").read_text().splitlines()
    bad = json.loads(lines[4])
    bad["reefer_capacity"] = f"{bad['reefer_capacity']} TEU"
    lines[4] = json.dumps(bad)
    extract.write_text("\n".join(lines) + "\n")
    settings = with_jobs(vessels=jsonl_job(extract))
    with pytest.raises(RejectLimitExceeded) as caught:
        load(settings, "vessels")
    reject_file = caught.value.reject_file
    assert str(caught.value) == (
        f"reference job vessels failed, nothing published (a bad record; see {reject_file}): "
        f"{extract}: record 5 (line 5), field reefer_capacity: expected int, got JSON string "
        f"'{bad['reefer_capacity']}'"
    )
    assert topic_reader.messages(settings, "vessels") == []
    with Ledger(reference_dir(settings) / "ledger.sqlite") as ledger:
        (run,) = ledger.last_runs("vessels")
    assert (run.status, run.kafka_outcome, run.records_rejected) == ("failed", "aborted", 1)
    assert run.error == str(caught.value)


def test_max_rejects_skips_bad_records_into_the_reject_file(
    with_jobs: Callable[..., Settings], topic_reader: Any, tmp_path: Path
) -> None:
    extract = tmp_path / "ports.csv"
    lines = (SAMPLES / "ports.csv").read_text().splitlines()
    lines[3] = "TOOLONG," + lines[3].split(",", 1)[1]
    lines.append(lines[1])  # duplicate key of record 1
    extract.write_text("\n".join(lines) + "\n")
    settings = with_jobs(ports=csv_job(extract, max_rejects=2))
    report = load(settings, "ports")
    assert (report.status, report.counts.new, report.counts.rejected) == ("loaded", 15, 2)
    rejects = [json.loads(x) for x in Path(report.reject_file).read_text().splitlines()]
    assert rejects == [
        {
            "record": 3,
            "location": "line 4",
            "field": "unlocode",
            "reason": "'TOOLONG' is 7 characters, string(5) allows 5",
            "fatal": False,
        },
        {
            "record": 17,
            "location": "line 18",
            "field": "unlocode",
            "reason": "duplicate key unlocode='NLRTM' (first in record 1)",
            "fatal": False,
        },
    ]
    assert Path(report.reject_file).parent == reference_dir(settings) / "rejects"
    assert len(topic_reader.table(settings, "ports", "unlocode")) == 15


def test_file_drop_directory_loads_the_newest_matching_ebcdic_file(
    with_jobs: Callable[..., Settings], topic_reader: Any, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    data = (SAMPLES / "products.dat").read_bytes()
    older, newer = drop / "PRODMAST.D1.dat", drop / "PRODMAST.D2.dat"
    older.write_bytes(data)
    newer.write_bytes(data[: 64 * 5])  # the first five products only
    (drop / "other.dat").write_bytes(data[:64])
    os.utime(older, (1_000_000_000, 1_000_000_000))
    settings = with_jobs(
        prodmast={
            "format": "copybook",
            "directory": str(drop),
            "glob": "PRODMAST.*.dat",
            "copybook": str(SAMPLES / "products.cpy"),
            "codepage": "cp037",
            "keys": ["product_id"],
        }
    )
    report = load(settings, "prodmast")
    assert (report.source, report.counts.new) == (str(newer), 5)
    assert len(topic_reader.table(settings, "prodmast", "product_id")) == 5
