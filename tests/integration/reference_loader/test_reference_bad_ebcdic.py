"""`offload reference load` of an EBCDIC extract with one bad record, against the real broker:
the command exits 1 naming the record, its field and byte offset; the run's transaction is
aborted, so the topic is exactly what the last good load left (checked with a plain
read_committed consumer, conftest.TopicReader), although the bad record came after records
that had changed."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from reference_loader.decoders import hex_bytes
from reference_loader.jobs import jobs_of
from reference_loader.layout import load_layout
from reference_loader.ledger import Ledger
from reference_loader.load import reference_dir, run_job

pytestmark = pytest.mark.kafka

SAMPLES = Path(__file__).resolve().parents[3] / "config" / "reference"
LAYOUT = load_layout((SAMPLES / "products.cpy").read_text(), source="products.cpy")
LENGTH = LAYOUT.record_length


def _spoil(data: bytearray, way: str) -> tuple[int, str | None, int, str]:
    """Spoil one record of `data` the way `way` says; (record number, field, byte offset of
    the fault, the reason's end) of the reject it must give."""
    if way == "packed_sign":
        spec, number = LAYOUT.field("unit_price"), 9
        at = (number - 1) * LENGTH + spec.offset
        data[at + spec.size - 1] = (data[at + spec.size - 1] & 0xF0) | 0x0E
        raw = bytes(data[at : at + spec.size])
        return (
            number,
            spec.name,
            at,
            f"invalid packed decimal sign nibble E: bytes {hex_bytes(raw)}",
        )
    if way == "zoned_digit":
        spec, number = LAYOUT.field("record_version"), 5
        at = (number - 1) * LENGTH + spec.offset
        data[at] = 0x7A  # ":" in cp037: its digit nibble A is no digit
        raw = bytes(data[at : at + spec.size])
        return number, spec.name, at, f"invalid zoned decimal digit: bytes {hex_bytes(raw)}"
    cut = 10  # the last record loses its last 10 bytes
    del data[-cut:]
    number = len(data) // LENGTH + 1
    reason = f"truncated record: {LENGTH - cut} bytes at the end of the file"
    return number, None, (number - 1) * LENGTH, reason + f", the record length is {LENGTH}"


@pytest.mark.parametrize("way", ["packed_sign", "zoned_digit", "truncated"])
def test_one_bad_record_fails_the_load_naming_it_and_publishes_nothing(
    way: str,
    kafka_broker: Settings,
    settings_factory: Callable[..., Settings],
    run_offload: Callable[..., Any],
    topic_reader: Any,
    tmp_path: Path,
) -> None:
    extract = tmp_path / "products.dat"
    shutil.copy(SAMPLES / "products.dat", extract)
    settings = settings_factory(
        {
            "reference.jobs": {
                "products": {
                    "format": "copybook",
                    "source": str(extract),
                    "copybook": str(SAMPLES / "products.cpy"),
                    "keys": ["product_id"],
                }
            }
        }
    )
    assert run_job(settings, jobs_of(settings)["products"]).status == "loaded"
    before = topic_reader.messages(settings, "products")
    assert len(before) == 12

    data = bytearray(extract.read_bytes())
    name = LAYOUT.field("product_name")
    for number in (2, 3):  # changes before the bad record: produced, then aborted
        at = (number - 1) * LENGTH + name.offset
        data[at : at + name.size] = f"CHANGED {number}".ljust(name.size).encode("cp037")
    number, field, offset, reason = _spoil(data, way)
    extract.write_bytes(bytes(data))

    failed = run_offload(settings, "reference", "load", "products")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    what = f", field {field}" if field else ""
    named = f"{extract}: record {number} (byte offset {offset}){what}: {reason}"
    assert named in failed.stderr, failed.stderr
    assert "nothing published" in failed.stderr

    assert topic_reader.messages(settings, "products") == before
    with Ledger(reference_dir(settings) / "ledger.sqlite") as ledger:
        last, good = ledger.last_runs("products", 2)
    assert (good.status, good.kafka_outcome) == ("loaded", "committed")
    assert (last.status, last.kafka_outcome, last.records_rejected) == ("failed", "aborted", 1)
    assert last.error is not None and named in last.error
    rejects = [json.loads(x) for x in Path(str(last.reject_file)).read_text().splitlines()]
    assert [(r["record"], r["field"], r["location"]) for r in rejects] == [
        (number, field, f"byte offset {offset}")
    ]
