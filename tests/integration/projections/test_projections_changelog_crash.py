"""kill -9 of `project run` at injected points and at random times, then restart: the views'
change log always holds exactly the changes of the view it sits beside.

After every kill, replaying the log (each key's `after`, in position order) gives the view's
rows, every change's `before` is the row the previous change left (nothing lost, nothing
twice), and positions grow batch by batch.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from types import SimpleNamespace
from typing import Any

import duckdb
import pytest

from projections.changelog import json_object

REPO_ROOT = __file__.rsplit("/tests/", 1)[0]
INJECTED = [
    "project.before_commit:2",
    "project.mid_batch:3",
    "project.after_commit:2",
    "project.before_commit:6",
]


def _check_log(db: Any) -> int:
    """Assert the log replays to the view; the number of changes logged."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        cols = con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE schema_name = 'views' AND table_name = 'account_activity' ORDER BY column_index"
        ).fetchall()
        types = {str(c): str(t) for c, t in cols}
        key = json_object({"account_id": types["account_id"]})
        sql = f"SELECT {key}, {json_object(types)} FROM views.account_activity AS v"
        view = dict(con.execute(sql).fetchall())
        log = con.execute(
            "SELECT lsn, n, key, before, after FROM _offload.view_changes "
            "WHERE view_name = 'account_activity' ORDER BY lsn, n, seq"
        ).fetchall()
        ((watermark,),) = con.execute("SELECT lsn FROM _offload.watermark").fetchall()
    finally:
        con.close()
    replayed: dict[str, str] = {}
    last = (0, 0)
    for lsn, n, k, before, after in log:
        assert (lsn, n) >= last and lsn <= watermark, (lsn, n, last, watermark)
        last = (lsn, n)
        assert replayed.get(k) == before, f"change of {k} at {lsn}.{n}: lost or repeated"
        replayed[k] = after
    assert replayed == view, "replaying the change log does not give the view"
    assert all(json.loads(v)["account_id"] is not None for v in view.values())
    return len(log)


@pytest.mark.kafka
def test_kill_9_leaves_the_change_log_equal_to_the_view(
    bank_settings: Any, kit: SimpleNamespace
) -> None:
    s = bank_settings
    cdc = kit.MiniCdc(s, kit.bank_tables())
    bank = kit.Bank(accounts=30, seed=5)
    units = [bank.opening(), *(bank.transfer() for _ in range(1500))]
    for start in range(0, len(units), 200):
        cdc.publish(units[start : start + 200])
    cdc.close()
    rnd = random.Random(6)
    command = [sys.executable, "-m", "offload", "project", "run"]
    logged = []
    for run in range(8):
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
        logged.append(_check_log(s.projections_path))
    final = subprocess.run(
        [*command, "--until-idle"],
        env=kit.offload_env(s),
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert final.returncode == 0, final.stderr.decode()[-2000:]
    total = _check_log(s.projections_path)
    assert len(set(logged)) > 3, logged  # the kills landed at different points of the log
    # No kill took back a committed change: the log only grows (a random kill may land after
    # the last batch, when the loop is idle, so the final run may have nothing left to add).
    assert logged == sorted(logged) and total >= logged[-1], (total, logged)
