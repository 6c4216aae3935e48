"""The ledger keeps a job's state in chunks and gives it back whole; the state of a ledger
written before the value hash was named (blake2b hashes, rows of `state`) is not trusted, so
the load rebuilds it from the topic, and the next committed load replaces it."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_loader import ledger as ledger_module
from reference_loader.delta import HASH_NAME, Counts
from reference_loader.ledger import Ledger, RunEnd, add_value_hash

INT64 = st.integers(-(2**63), 2**63 - 1)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(state=st.dictionaries(st.binary(max_size=6), INT64, max_size=40))
def test_a_committed_state_comes_back_whole(state: dict[bytes, int]) -> None:
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(ledger_module, "STATE_CHUNK", 7)  # several chunks, a short last one
        with Ledger(Path(tmp) / "ledger.sqlite") as ledger:
            ledger.begin_run("r1", "job", "topic")
            end = RunEnd("loaded", Counts(), "committed")
            ledger.finish_committed("r1", "job", "topic", end, state.items())
        with Ledger(Path(tmp) / "ledger.sqlite") as ledger:
            assert ledger.trusted_state("job", "topic") == state
            assert ledger.trusted_state("job", "other topic") is None


def test_the_state_of_an_older_ledger_is_not_trusted_then_replaced(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with sqlite3.connect(path) as old:  # state_meta as ledgers before value_hash had it
        old.execute("CREATE TABLE state_meta (job TEXT PRIMARY KEY, topic TEXT NOT NULL, "
                    "run_id TEXT NOT NULL)")  # fmt: skip
        old.execute("INSERT INTO state_meta VALUES ('job', 'topic', 'r1')")
    with Ledger(path) as ledger:
        ledger.con.execute("INSERT INTO state VALUES ('job', x'0001', -5), ('job', x'02', 7)")
        assert ledger.trusted_state("job", "topic") is None  # blake2b hashes: rebuild
        ledger.begin_run("r2", "job", "topic")
        end = RunEnd("loaded", Counts(), "committed")
        ledger.finish_committed("r2", "job", "topic", end, [(b"\x03", 1)])
        assert ledger.trusted_state("job", "topic") == {b"\x03": 1}
        assert ledger.con.execute("SELECT count(*) FROM state").fetchone() == (0,)
        meta = ledger.con.execute("SELECT value_hash FROM state_meta").fetchone()
        assert meta == (HASH_NAME,)


def test_a_second_process_adding_value_hash_finds_it_there(tmp_path: Path) -> None:
    """Two loads opening a ledger from before value_hash at the same moment both see the
    column missing; the second ALTER TABLE then finds it added, which is not an error."""
    path = tmp_path / "ledger.sqlite"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE state_meta (job TEXT PRIMARY KEY, topic TEXT NOT NULL, "
                    "run_id TEXT NOT NULL)")  # fmt: skip
    with Ledger(path) as ledger:  # the first adds it
        add_value_hash(ledger.con)  # what the second, a moment later, does
        columns = [row[1] for row in ledger.con.execute("PRAGMA table_info(state_meta)")]
    assert columns.count("value_hash") == 1
