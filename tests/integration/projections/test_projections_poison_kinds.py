"""Every kind of poison change record, each in its own unit of work between good ones, against
the real broker: each lands in the error table and the DLQ exactly once, every good unit of
work is applied, and the watermark passes the poisoned units.

`test_projections_poison.py` covers garbage bytes, an unknown schema id and a row the view
rejects, and replay; this adds the other decode failures the unit fuzz tests
(`tests/unit/projections/test_decoder_fuzz.py`) generate: a wrong magic byte, truncated Avro,
a valid header with a garbage body, bytes left over, a record of another table's schema, and
envelopes that break the contract (an unknown op, an update without its row).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from event_contract import avro_types

Spoil = Callable[[bytes, bytes], bytes]


def _transfer_id(entry: dict[str, Any]) -> int:
    """The transfer id in an error-table entry's decoded key (JSON: an object or a list)."""
    key = json.loads(entry["key"])
    return int(next(iter(key.values())) if isinstance(key, dict) else key[0])


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


@pytest.mark.kafka
def test_every_poison_kind_goes_to_the_dlq_once_and_the_good_units_apply(
    kafka_broker: Any, settings_factory: Any, run_offload: Any, kit: SimpleNamespace
) -> None:
    s = settings_factory(
        {
            "projections.views": [],
            "projections.reference_topics": [],
            "projections.idle_ms": 300,
            "projections.stall_grace_ms": 300,
        }
    )
    cdc = kit.MiniCdc(s, kit.bank_tables())
    bank = kit.Bank(seed=5)
    cdc.publish([bank.opening(), *(bank.transfer() for _ in range(3))])

    def reencode(change: Callable[[dict[str, Any]], None]) -> Spoil:
        def spoil(value: bytes, _accounts: bytes) -> bytes:
            sid, envelope = cdc.codec.decode_with_id(value)
            change(envelope)
            table = cdc.tables["BANK.TRANSFERS"]
            schema = avro_types.envelope_schema(table, s.kafka.topic_prefix)
            return bytes(cdc.codec.encode(sid, schema, envelope))

        return spoil

    spoilers: dict[str, Spoil] = {
        "magic": lambda v, _: b"\x01" + v[1:],
        "truncated": lambda v, _: v[: len(v) // 2],
        "garbage_body": lambda v, _: v[:5] + b"\xff" * 7,
        "left_over": lambda v, _: v + b"\x00\x00",
        "other_table": lambda _, accounts: accounts,
        "unknown_op": reencode(lambda e: e.update(op="x")),
        "no_row": reencode(lambda e: e.update(op="u", after=None)),
    }
    poisoned: dict[str, int] = {}
    for name, spoil in spoilers.items():
        seen: dict[str, bytes] = {}

        def mutate(table: str, k: bytes, v: bytes, spoil: Spoil = spoil) -> tuple[bytes, bytes]:
            seen.setdefault(table, v)
            return (k, spoil(v, seen["BANK.ACCOUNTS"])) if table == "BANK.TRANSFERS" else (k, v)

        cdc.publish([bank.transfer()], mutate=mutate)
        poisoned[name] = len(bank.transfers)
        cdc.publish([bank.transfer() for _ in range(2)])  # good units after each poison

    kit.ok(run_offload(s, "project", "run", "--until-idle"))

    db = s.projections_path
    accounts, transfers = bank.expected(bank.lsn)
    assert kit.duck(db, "SELECT * FROM bank.accounts ORDER BY 1") == accounts
    have = kit.duck(db, "SELECT * FROM bank.transfers ORDER BY 1")
    assert have == [r for r in transfers if r[0] not in poisoned.values()]
    assert kit.duck(db, "SELECT lsn, units FROM _offload.watermark") == [(bank.lsn, bank.lsn)]

    listed = json.loads(kit.ok(run_offload(s, "errors", "list", "--json")).stdout)
    shown = [(e["partition"], e["offset"], e["uow_id"], e["reason"][:70]) for e in listed]
    assert len(listed) == len(spoilers), shown
    assert {(e["kind"], e["source_table"]) for e in listed} == {("decode", "BANK.TRANSFERS")}
    assert sorted(_transfer_id(e) for e in listed) == sorted(poisoned.values())
    reasons = {_transfer_id(e): e["reason"] for e in listed}
    assert "not in the Confluent wire format" in reasons[poisoned["magic"]]
    assert "bytes left after the record" in reasons[poisoned["left_over"]]
    assert reasons[poisoned["other_table"]].startswith("event of table BANK.ACCOUNTS")
    assert reasons[poisoned["unknown_op"]] == "unknown op 'x'"
    assert reasons[poisoned["no_row"]] == "op 'u' with after=None"

    dlq = _dlq(s)
    places = [
        (int(h["offload.source.partition"]), int(h["offload.source.offset"]))
        for h in (dict(m.headers()) for m in dlq)
    ]
    assert len(dlq) == len(spoilers) and len(set(places)) == len(spoilers)  # each once
    assert sorted(places) == sorted((e["partition"], e["offset"]) for e in listed)
