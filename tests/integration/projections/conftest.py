"""Fixtures of the projections' integration tests: a small CDC publisher built from the event
contract (so these tests need not the real capture), and helpers to read the results.

The suite runs with --import-mode=importlib, so helpers reach the tests as fixtures.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import pytest
from confluent_kafka import Producer

from config import Settings
from event_contract import avro_types
from event_contract.catalog import Column, Db2Type, Table
from event_contract.changes import Op, RowChange, UnitOfWork
from event_contract.codec import Codec
from event_contract.envelope import (
    SourceInfo,
    TableLayout,
    TxInfo,
    begin_marker,
    collection_counts,
    end_marker,
    transaction_key,
    unit_events,
)
from event_contract.registry import schema_id
from event_contract.schema_stores import TopicSchemaStore
from plumbing.topics import ensure_topic

Mutate = Callable[[str, bytes, bytes], tuple[bytes, bytes | None]]
T0 = datetime(2024, 5, 1, 8, 0, 0)


def bank_tables() -> list[Table]:
    """Two tables of a toy bank: accounts, and the transfers between them."""
    dec = Db2Type.DECIMAL
    accounts = Table(
        "BANK",
        "ACCOUNTS",
        (
            Column("ACCOUNT_ID", Db2Type.INTEGER, nullable=False),
            Column("NAME", Db2Type.VARCHAR, 40),
            Column("BALANCE", dec, 15, 2, nullable=False),
        ),
        ("ACCOUNT_ID",),
    )
    transfers = Table(
        "BANK",
        "TRANSFERS",
        (
            Column("TRANSFER_ID", Db2Type.BIGINT, nullable=False),
            Column("FROM_ID", Db2Type.INTEGER, nullable=False),
            Column("TO_ID", Db2Type.INTEGER, nullable=False),
            Column("AMOUNT", dec, 15, 2, nullable=False),
            Column("BOOKED_AT", Db2Type.TIMESTAMP, nullable=False),
        ),
        ("TRANSFER_ID",),
    )
    return [accounts, transfers]


class MiniCdc:
    """Publishes units of work as the contract says, in Kafka transactions (like capture)."""

    def __init__(self, settings: Settings, tables: Sequence[Table]) -> None:
        self.settings = settings
        kafka = settings.kafka
        self.prefix = kafka.topic_prefix
        self.producer = Producer(
            {
                **kafka.client_config(),
                "transactional.id": f"test-cdc-{uuid.uuid4().hex}",
                "partitioner": "murmur2_random",
            }
        )
        self.producer.init_transactions(30)
        self.store = TopicSchemaStore(kafka, self.producer)
        self.store.ensure_topic()
        self.codec = Codec(self.store.by_id)
        self.tables = {t.qualified_name: t for t in tables}
        self.layouts = {name: TableLayout(t) for name, t in self.tables.items()}
        self.source = SourceInfo(name=self.prefix, db="test")
        self.tx_topic = kafka.topic("transaction")
        ensure_topic(kafka, self.tx_topic, 1, {"cleanup.policy": "delete"})
        for t in tables:
            ensure_topic(kafka, self.topic(t.qualified_name), kafka.partitions)

    def topic(self, table: str) -> str:
        schema, name = table.split(".")
        return self.settings.kafka.topic(schema, name)

    def schema_pair(self, table: str) -> tuple[dict[str, Any], dict[str, Any]]:
        t = self.tables[table]
        return avro_types.key_schema(t, self.prefix), avro_types.envelope_schema(t, self.prefix)

    def publish(
        self,
        uows: Sequence[UnitOfWork],
        mutate: Mutate | None = None,
        *,
        part: tuple[str, int, Collection[str]] | None = None,
    ) -> None:
        """Publish units of work in one Kafka transaction; `mutate` may spoil a record.

        `part` (name, parts, tables): publish only the events of `tables`, with markers of
        this part of `parts`, as one capture group of a split does."""
        self.producer.begin_transaction()
        tk = avro_types.transaction_key_schema(self.prefix)
        tv = avro_types.transaction_value_schema(self.prefix)
        tk_id = self.store.register(f"{self.tx_topic}-key", tk)
        tv_id = self.store.register(f"{self.tx_topic}-value", tv)
        name, parts, tables = part or (None, 1, self.tables)
        for uow in uows:
            tx = TxInfo.of(uow)
            key = self.codec.encode(tk_id, tk, transaction_key(tx))
            begin = begin_marker(tx, name, parts)
            self.producer.produce(self.tx_topic, key=key, value=self.codec.encode(tv_id, tv, begin))
            for event in unit_events(uow, self.layouts, self.source, 0):
                if event.table in tables:
                    self._produce(event.table, event.key, event.value, mutate)
            counts = {t: n for t, n in collection_counts(uow, self.layouts).items() if t in tables}
            end = self.codec.encode(tv_id, tv, end_marker(tx, counts, name, parts))
            self.producer.produce(self.tx_topic, key=key, value=end)
        self.producer.commit_transaction(30)
        self.store.commit_pending()

    def _produce(
        self, table: str, key: dict[str, Any], value: dict[str, Any], mutate: Mutate | None
    ) -> None:
        topic = self.topic(table)
        ks, vs = self.schema_pair(table)
        k_id = self.store.register(f"{topic}-key", ks)
        v_id = self.store.register(f"{topic}-value", vs)
        kb = self.codec.encode(k_id, ks, key)
        vb: bytes | None = self.codec.encode(v_id, vs, value)
        assert vb is not None
        if mutate is not None:
            kb, vb = mutate(table, kb, vb)
        self.producer.produce(topic, key=kb, value=vb)
        if value["op"] == "d":
            self.producer.produce(topic, key=kb, value=None)

    def close(self) -> None:
        self.producer.flush(10)


class Bank:
    """A deterministic model of the toy bank: units of work and the state at each LSN."""

    def __init__(self, accounts: int = 20, seed: int = 1) -> None:
        import random

        self.rnd = random.Random(seed)
        self.lsn = 0
        self.accounts = {i: (f"acct {i}", 1000) for i in range(1, accounts + 1)}
        self.transfers: dict[int, tuple[int, int, int, datetime]] = {}
        self.history: dict[int, tuple[dict[int, Any], dict[int, Any]]] = {}

    def opening(self) -> UnitOfWork:
        """The unit of work that opens every account."""
        self.lsn += 1
        changes = tuple(
            RowChange("BANK.ACCOUNTS", Op.INSERT, self.lsn, i, None, self._account(a))
            for i, a in enumerate(sorted(self.accounts), start=1)
        )
        return self._commit(changes)

    def transfer(self, amount: int | None = None) -> UnitOfWork:
        """Move money between two accounts and book the transfer (3 events, 2 tables)."""
        self.lsn += 1
        a, b = self.rnd.sample(sorted(self.accounts), 2)
        amount = self.rnd.randint(1, 50) if amount is None else amount
        before_a, before_b = self._account(a), self._account(b)
        self.accounts[a] = (self.accounts[a][0], self.accounts[a][1] - amount)
        self.accounts[b] = (self.accounts[b][0], self.accounts[b][1] + amount)
        tid = len(self.transfers) + 1
        booked = T0 + timedelta(seconds=self.lsn)
        self.transfers[tid] = (a, b, amount, booked)
        changes = (
            RowChange("BANK.ACCOUNTS", Op.UPDATE, self.lsn, 1, before_a, self._account(a)),
            RowChange("BANK.ACCOUNTS", Op.UPDATE, self.lsn, 2, before_b, self._account(b)),
            RowChange("BANK.TRANSFERS", Op.INSERT, self.lsn, 3, None, self._transfer(tid)),
        )
        return self._commit(changes)

    def _commit(self, changes: tuple[RowChange, ...]) -> UnitOfWork:
        self.history[self.lsn] = (dict(self.accounts), dict(self.transfers))
        return UnitOfWork(self.lsn, f"U{self.lsn:06d}", T0 + timedelta(seconds=self.lsn), changes)

    def _account(self, i: int) -> dict[str, Any]:
        from decimal import Decimal

        name, balance = self.accounts[i]
        return {
            "ACCOUNT_ID": i,
            "NAME": name,
            "BALANCE": Decimal(balance).quantize(Decimal("0.01")),
        }

    def _transfer(self, tid: int) -> dict[str, Any]:
        from decimal import Decimal

        a, b, amount, booked = self.transfers[tid]
        return {
            "TRANSFER_ID": tid,
            "FROM_ID": a,
            "TO_ID": b,
            "AMOUNT": Decimal(amount).quantize(Decimal("0.01")),
            "BOOKED_AT": booked,
        }

    def expected(self, lsn: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The accounts and transfers rows as of `lsn`, sorted."""
        from decimal import Decimal

        if lsn == 0:
            return [], []
        accounts, transfers = self.history[lsn]
        q = Decimal("0.01")
        acc = sorted((i, n, Decimal(b).quantize(q)) for i, (n, b) in accounts.items())
        tr = sorted(
            (t, a, b, Decimal(m).quantize(q), when) for t, (a, b, m, when) in transfers.items()
        )
        return acc, tr


def duck(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a query on the projection file, opened read-only (no writer may run)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """Assert a CLI run succeeded, showing its output when not."""
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


VIEW_SQL = """-- account_activity: per account, its balance and the transfers it sent.
-- key: account_id
-- sources: bank.accounts, bank.transfers
SELECT a.account_id, a.balance,
       count(t.transfer_id) AS sent,
       CAST(coalesce(sum(t.amount), 0) AS DECIMAL(18,2)) AS sent_amount
FROM bank.accounts AS a
JOIN affected_keys USING (account_id)
LEFT JOIN bank.transfers AS t ON t.from_id = a.account_id
GROUP BY a.account_id, a.balance
"""
VIEW_KEYS_SQL = """SELECT account_id FROM delta_bank_accounts
UNION SELECT from_id AS account_id FROM delta_bank_transfers
"""


def offload_env(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment `run_offload` gives the CLI: these settings as OFFLOAD__ variables."""
    import json
    import os

    from pydantic import BaseModel, SecretStr
    from pydantic_core import to_jsonable_python

    def flat(model: BaseModel, prefix: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, f in type(model).model_fields.items():
            value = getattr(model, name)
            key = f"{prefix}__{(f.alias or name).upper()}"
            if isinstance(value, BaseModel):
                out.update(flat(value, key))
            elif value is not None and not isinstance(value, SecretStr):
                plain = to_jsonable_python(value)
                out[key] = plain if isinstance(plain, str) else json.dumps(plain)
        return out

    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("OFFLOAD")}
    env["OFFLOAD_CONFIG"] = str(Path(__file__).resolve().parents[3] / "config" / "offload.toml")
    return env | flat(settings, "OFFLOAD") | dict(extra or {})


@pytest.fixture
def kit() -> SimpleNamespace:
    """The helpers: MiniCdc, Bank, bank_tables, duck, ok, and the test view's SQL."""
    return SimpleNamespace(
        MiniCdc=MiniCdc,
        Bank=Bank,
        bank_tables=bank_tables,
        duck=duck,
        ok=ok,
        VIEW_SQL=VIEW_SQL,
        VIEW_KEYS_SQL=VIEW_KEYS_SQL,
        schema_id=schema_id,
        offload_env=offload_env,
    )


@pytest.fixture
def bank_settings(
    kafka_broker: Settings, settings_factory: Any, tmp_path: Path
) -> Iterator[Settings]:
    """Settings for the toy bank: its one test view, no reference topics, small batches."""
    views = tmp_path / "views"
    views.mkdir()
    (views / "account_activity.sql").write_text(VIEW_SQL)
    (views / "account_activity.keys.sql").write_text(VIEW_KEYS_SQL)
    yield settings_factory(
        {
            "projections.views": ["account_activity"],
            "projections.change_log_views": ["account_activity"],
            "projections.views_dir": str(views),
            "projections.reference_topics": [],
            "projections.batch_max_events": 200,
            "projections.batch_max_ms": 50,
            "projections.idle_ms": 300,
            "projections.stall_grace_ms": 300,
        }
    )
