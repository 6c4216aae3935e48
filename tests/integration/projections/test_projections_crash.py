"""kill -9 of `project run` at injected points and at random times, 20 times, then restart.

After every kill the DuckDB file must hold exactly the state of the source at its watermark
(so a reader never sees half a unit of work: each unit moves money between two accounts and
books a transfer, across two tables), no unit may have been applied twice (the watermark's
running count of units equals the number of units at or below it), and at the end the state
equals the source.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

REPO_ROOT = __file__.rsplit("/tests/", 1)[0]
INJECTED = [
    "project.mid_rebuild:1",
    "project.mid_rebuild:1",
    "project.before_commit:1",
    "project.before_commit:4",
    "project.after_commit:1",
    "project.after_commit:5",
    "project.mid_batch:2",
    "project.mid_batch:6",
    "project.before_commit:9",
    "project.after_commit:12",
]


def _check_consistent(kit: SimpleNamespace, bank: Any, db: Any) -> int:
    ((lsn, units, events),) = kit.duck(db, "SELECT lsn, units, events FROM _offload.watermark")
    accounts, transfers = bank.expected(lsn)
    assert kit.duck(db, "SELECT * FROM bank.accounts ORDER BY 1") == accounts, lsn
    assert kit.duck(db, "SELECT * FROM bank.transfers ORDER BY 1") == transfers, lsn
    assert units == lsn, f"{units} units applied for watermark {lsn}: some applied twice"
    opening = len(bank.accounts)
    assert events == (0 if lsn == 0 else opening + 3 * (lsn - 1))
    state = kit.duck(db, "SELECT status, lsn FROM _offload.view_state")
    if state and state[0][0] == "current":
        view = kit.duck(db, "SELECT * FROM views.account_activity ORDER BY 1")
        sent: dict[int, list[Decimal]] = {}
        for _, a, _, amount, _ in transfers:
            sent.setdefault(a, []).append(amount)
        assert view == [
            (i, balance, len(sent.get(i, [])), sum(sent.get(i, []), Decimal("0.00")))
            for i, _, balance in accounts
        ]
    return lsn


@pytest.mark.kafka
@pytest.mark.parametrize("split", [False, True], ids=["one-capture", "split-by-table-group"])
def test_kill_9_anywhere_loses_nothing_and_applies_nothing_twice(
    bank_settings: Any, kit: SimpleNamespace, split: bool
) -> None:
    s = bank_settings
    bank = kit.Bank(accounts=30, seed=9)
    units = [bank.opening(), *(bank.transfer() for _ in range(4000))]
    batches = [units[start : start + 200] for start in range(0, len(units), 200)]
    if split:
        # Two capture groups, accounts and transfers, each with its own producer; the
        # transfers' group runs a batch behind, so its markers come after the others'.
        a, b = kit.MiniCdc(s, kit.bank_tables()), kit.MiniCdc(s, kit.bank_tables())
        for i, batch in enumerate(batches):
            a.publish(batch, part=("accounts", 2, {"BANK.ACCOUNTS"}))
            if i:
                b.publish(batches[i - 1], part=("transfers", 2, {"BANK.TRANSFERS"}))
        b.publish(batches[-1], part=("transfers", 2, {"BANK.TRANSFERS"}))
        a.close()
        b.close()
    else:
        cdc = kit.MiniCdc(s, kit.bank_tables())
        for batch in batches:
            cdc.publish(batch)
        cdc.close()
    db = s.projections_path
    rnd = random.Random(4)
    command = [sys.executable, "-m", "offload", "project", "run"]
    seen = []
    for run in range(20):
        if run < len(INJECTED):
            env = kit.offload_env(s, {"OFFLOAD_CRASH_AT": INJECTED[run]})
            proc = subprocess.run(
                [*command, "--until-idle"],
                env=env,
                cwd=REPO_ROOT,
                capture_output=True,
                timeout=120,
                check=False,
            )
            assert proc.returncode in (-9, 0), proc.stderr.decode()[-2000:]
        else:
            child = subprocess.Popen(
                command,
                env=kit.offload_env(s),
                cwd=REPO_ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(rnd.uniform(1.0, 2.5))
            child.kill()
            child.wait(30)
        seen.append(_check_consistent(kit, bank, db))
    assert len(set(seen)) > 5, seen  # the kills did land at many different watermarks
    env = kit.offload_env(s)
    final = subprocess.run(
        [*command, "--until-idle"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert final.returncode == 0, final.stderr.decode()[-2000:]
    assert _check_consistent(kit, bank, db) == bank.lsn
