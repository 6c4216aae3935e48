"""Poison records go to the error table and the DLQ, the rest applies, replay works."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from event_contract import avro_types
from event_contract.catalog import Column, Db2Type, Table

AMOUNTS_SQL = """-- transfer_amounts: rejects amounts of 100 and more while the precision is 4.
-- key: transfer_id
-- sources: bank.transfers
SELECT t.transfer_id, CAST(t.amount AS DECIMAL({precision},2)) AS amount
FROM bank.transfers AS t JOIN affected_keys USING (transfer_id)
"""


def _dlq(settings: Any) -> list[Any]:
    topic = settings.kafka.topic("dlq")
    conf = {**settings.kafka.client_config(), "group.id": "t", "enable.partition.eof": True}
    consumer = Consumer(conf)
    consumer.assign([TopicPartition(topic, 0, 0)])
    out: list[Any] = []
    try:
        while True:
            m = consumer.poll(10)
            assert m is not None, "no end of the DLQ within 10 s"
            if m.error():
                return out
            out.append(m)
    finally:
        consumer.close()


def _views(tmp_path: Path, kit: SimpleNamespace, precision: int) -> Path:
    views = tmp_path / "views"
    views.mkdir(exist_ok=True)
    (views / "account_activity.sql").write_text(kit.VIEW_SQL)
    (views / "account_activity.keys.sql").write_text(kit.VIEW_KEYS_SQL)
    (views / "transfer_amounts.sql").write_text(AMOUNTS_SQL.format(precision=precision))
    (views / "transfer_amounts.keys.sql").write_text("SELECT transfer_id FROM delta_bank_transfers")
    return views


@pytest.mark.kafka
def test_poison_goes_to_the_error_table_and_the_dlq_and_replay_applies_it(
    kafka_broker: Any, settings_factory: Any, run_offload: Any, kit: SimpleNamespace, tmp_path: Path
) -> None:
    views = _views(tmp_path, kit, precision=4)
    s = settings_factory(
        {
            "projections.views": ["account_activity", "transfer_amounts"],
            "projections.views_dir": str(views),
            "projections.reference_topics": [],
            "projections.idle_ms": 300,
            "projections.stall_grace_ms": 300,
        }
    )
    cdc = kit.MiniCdc(s, kit.bank_tables())
    bank = kit.Bank(seed=2)
    cdc.publish([bank.opening(), *(bank.transfer() for _ in range(10))])
    # 1. garbage bytes in place of a unit's transfer event
    cdc.publish(
        [bank.transfer()],
        mutate=lambda table, k, v: (k, b"garbage") if table == "BANK.TRANSFERS" else (k, v),
    )
    garbage_tid = len(bank.transfers)
    # 2. a transfer written with a schema the store does not hold yet
    transfers = kit.bank_tables()[1]
    note = Column("NOTE", Db2Type.VARCHAR, 20)
    newer = Table("BANK", "TRANSFERS", (*transfers.columns, note), ("TRANSFER_ID",))
    v2 = avro_types.envelope_schema(newer, s.kafka.topic_prefix)
    v2_id = kit.schema_id(v2)

    def newer_schema(table: str, k: bytes, v: bytes) -> tuple[bytes, bytes]:
        if table != "BANK.TRANSFERS":
            return k, v
        envelope = cdc.codec.decode(v)
        envelope["after"] = {**envelope["after"], "NOTE": "late"}
        return k, cdc.codec.encoder(v2_id, v2).encode(envelope)

    cdc.publish([bank.transfer()], mutate=newer_schema)
    unknown_tid = len(bank.transfers)
    # 3. a transfer of 500.00, which the view transfer_amounts rejects
    cdc.publish([bank.transfer(amount=500)])
    big_tid = len(bank.transfers)
    cdc.publish([bank.transfer() for _ in range(10)])

    kit.ok(run_offload(s, "project", "run", "--until-idle"))

    db = s.projections_path
    accounts, transfers_rows = bank.expected(bank.lsn)
    # the pipeline kept going: every account update applied, every other transfer too
    assert kit.duck(db, "SELECT * FROM bank.accounts ORDER BY 1") == accounts
    poisoned = {garbage_tid, unknown_tid, big_tid}
    have = kit.duck(db, "SELECT * FROM bank.transfers ORDER BY 1")
    assert have == [r for r in transfers_rows if r[0] not in poisoned]
    assert kit.duck(db, "SELECT lsn, units FROM _offload.watermark") == [(bank.lsn, bank.lsn)]

    listed = json.loads(kit.ok(run_offload(s, "errors", "list", "--json")).stdout)
    by_kind = {(e["kind"], e["source_table"]): e for e in listed}
    assert len(listed) == 3
    garbage = next(e for e in listed if e["reason"].startswith("message starts"))
    assert (garbage["kind"], garbage["source_table"]) == ("decode", "BANK.TRANSFERS")
    assert garbage["reason"] == (
        "message starts with magic byte 103, not 0: not in the Confluent wire format"
    )
    unknown = next(e for e in listed if e["reason"].startswith("unknown schema id"))
    assert unknown["reason"] == f"unknown schema id {v2_id}: no schema has it"
    rejected = by_kind[("apply", "BANK.TRANSFERS")]
    assert rejected["reason"].startswith("ConversionException: Conversion Error")
    assert rejected["key"] == f"[{big_tid}]"
    assert {garbage["uow_id"], unknown["uow_id"], rejected["uow_id"]} == {
        "U000012",
        "U000013",
        "U000014",
    }

    dlq = _dlq(s)
    assert len(dlq) == 3
    headers = [dict(m.headers()) for m in dlq]
    assert {h["offload.error.kind"] for h in headers} == {b"decode", b"apply"}
    topic = s.kafka.topic("bank", "transfers").encode()
    assert all(h["offload.source.topic"] == topic for h in headers)
    first = next(
        m
        for m, h in zip(dlq, headers, strict=True)
        if h["offload.error.id"] == str(garbage["id"]).encode()
    )
    assert first.value() == b"garbage"
    assert dict(first.headers())["offload.source.offset"] == str(garbage["offset"]).encode()

    # the fixes: the newer schema is registered, the view accepts large amounts
    cdc.producer.begin_transaction()
    cdc.store.register(f"{s.kafka.topic('bank', 'transfers')}-value", v2)
    cdc.producer.commit_transaction(30)
    _views(tmp_path, kit, precision=9)
    kit.ok(run_offload(s, "project", "run", "--until-idle"))  # rebuilds the changed view
    replayed = run_offload(s, "errors", "replay", "--all")
    assert replayed.returncode == 1, replayed.stdout + replayed.stderr  # garbage stays garbage
    assert "3 replayed, 1 still failing" in replayed.stdout
    cols = "transfer_id, from_id, to_id, amount, booked_at"
    have = kit.duck(db, f"SELECT {cols} FROM bank.transfers ORDER BY 1")
    assert have == [r for r in transfers_rows if r[0] != garbage_tid]
    notes = kit.duck(db, "SELECT transfer_id, note FROM bank.transfers WHERE note IS NOT NULL")
    assert notes == [(unknown_tid, "late")]  # the mirror gained the newer version's column
    amounts = kit.duck(db, "SELECT transfer_id, amount FROM views.transfer_amounts ORDER BY 1")
    assert (big_tid, kit_decimal("500.00")) in amounts
    still = json.loads(kit.ok(run_offload(s, "errors", "list", "--json")).stdout)
    assert [e["id"] for e in still] == [garbage["id"]]
    # replaying what is applied already changes nothing
    again = kit.ok(
        run_offload(s, "errors", "search", "--key", str(big_tid), "--table", "BANK.TRANSFERS")
    )
    assert "1 events found; 0 rows changed" in again.stdout


def kit_decimal(text: str) -> Any:
    from decimal import Decimal

    return Decimal(text)
