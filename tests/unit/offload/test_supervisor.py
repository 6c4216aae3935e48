"""The supervisor restarts crashed parts with backoff and stops every part cleanly."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from config import RunSettings
from offload.supervisor import PartSpec, Supervisor, backoff_delay, read_state
from plumbing.processes import pid_alive, process_identity, same_process, start_ticks

FAST = RunSettings(
    restart_backoff_initial_s=0.2,
    restart_backoff_max_s=0.8,
    stable_after_s=5.0,
    stop_timeout_s=2.0,
)


def _python(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


def test_backoff_doubles_up_to_the_ceiling() -> None:
    delays = [backoff_delay(n, FAST) for n in range(1, 6)]
    assert delays == [0.2, 0.4, 0.8, 0.8, 0.8]


def _run_for(supervisor: Supervisor, seconds: float) -> None:
    thread = threading.Thread(target=supervisor.run)
    thread.start()
    time.sleep(seconds)
    supervisor.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_crashing_part_is_restarted_and_healthy_part_keeps_running(tmp_path: Path) -> None:
    marker = tmp_path / "starts.txt"
    crasher = _python(
        f"import time; open({str(marker)!r}, 'a').write(f'{{time.monotonic()}}\\n'); "
        "raise SystemExit(3)"
    )
    steady = _python("import time; time.sleep(60)")
    supervisor = Supervisor(
        [PartSpec("crasher", crasher), PartSpec("steady", steady)],
        FAST,
        tmp_path / "state.json",
        tmp_path / "logs",
    )
    thread = threading.Thread(target=supervisor.run)
    thread.start()
    # Wait until the crasher has crashed a fourth time and waits out its backoff. (Stopping
    # once its fourth start was seen raced its exit: a part still running at the stop is
    # stopped with SIGTERM, and its exit code is then -15, not its own.)
    deadline = time.monotonic() + 60  # a loaded machine starts interpreters slowly
    crashed: dict[str, object] = {}
    while time.monotonic() < deadline:
        running = read_state(tmp_path / "state.json") or {}
        found = running.get("parts", {}).get("crasher", {})  # type: ignore[attr-defined]
        if found.get("state") == "backoff" and found.get("restarts", 0) >= 3:
            crashed = found
            break
        time.sleep(0.05)
    supervisor.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert crashed.get("last_exit_code") == 3, crashed  # its own exit code, recorded
    starts = [float(t) for t in marker.read_text().split()]
    assert len(starts) >= 4, starts
    # Restarted with the backoff between starts (0.2, 0.4, 0.8 s...), never a tight loop.
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert all(gap >= backoff_delay(n, FAST) for n, gap in enumerate(gaps, start=1)), gaps
    state = read_state(tmp_path / "state.json")
    assert state is not None
    parts = state["parts"]
    assert isinstance(parts, dict)
    assert parts["crasher"]["restarts"] >= 3
    assert parts["steady"]["restarts"] == 0
    assert all(p["state"] == "stopped" for p in parts.values())
    assert state["supervisor_pid"] is None


def test_stop_sends_sigterm_and_kills_a_part_that_ignores_it(tmp_path: Path) -> None:
    graceful_done = tmp_path / "graceful.txt"
    graceful = _python(
        "import signal, sys, time\n"
        f"def bye(*_):\n    open({str(graceful_done)!r}, 'w').write('finished')\n    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "time.sleep(60)\n"
    )
    stubborn = _python(
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)\n"
    )
    supervisor = Supervisor(
        [PartSpec("graceful", graceful), PartSpec("stubborn", stubborn)],
        FAST,
        tmp_path / "state.json",
        tmp_path / "logs",
    )
    started = time.monotonic()
    _run_for(supervisor, 1.0)
    assert graceful_done.read_text() == "finished"
    state = read_state(tmp_path / "state.json")
    assert state is not None
    parts = state["parts"]
    assert isinstance(parts, dict)
    assert parts["graceful"]["last_exit_code"] == 0
    assert parts["stubborn"]["last_exit_code"] == -9
    assert time.monotonic() - started < 10


def test_part_output_goes_to_its_log_file(tmp_path: Path) -> None:
    talker = _python("import sys, time; print('hello from part', flush=True); time.sleep(60)")
    log = tmp_path / "logs" / "talker.log"
    supervisor = Supervisor([PartSpec("talker", talker)], FAST, tmp_path / "state.json", log.parent)
    thread = threading.Thread(target=supervisor.run)
    thread.start()
    try:  # wait for the line, not a fixed time: a loaded machine starts the child late
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (log.exists() and "hello" in log.read_text()):
            time.sleep(0.05)
    finally:
        supervisor.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert "hello from part" in log.read_text()


def test_pid_alive() -> None:
    import os

    assert pid_alive(os.getpid())
    assert not pid_alive(2**22 + 12345)


def test_process_identity_names_one_process_by_pid_and_start_time() -> None:
    import os
    import subprocess

    mine = process_identity(os.getpid())
    assert mine is not None and mine[0] == os.getpid()
    assert process_identity(os.getpid()) == mine  # stable while the process lives
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        theirs = process_identity(child.pid)
        assert theirs is not None and theirs[0] == child.pid
        assert theirs[1] >= mine[1]  # started after this process
    finally:
        child.kill()
        child.wait()
    assert process_identity(child.pid) is None  # gone: nothing to confuse a reused pid with


def test_state_file_names_each_process_by_pid_and_start_time(tmp_path: Path) -> None:
    steady = _python("import time; time.sleep(60)")
    supervisor = Supervisor([PartSpec("steady", steady)], FAST, tmp_path / "state.json", None)
    thread = threading.Thread(target=supervisor.run)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        state = read_state(tmp_path / "state.json")
        while time.monotonic() < deadline and not (state and state["parts"]["steady"]["pid"]):  # type: ignore[index]
            time.sleep(0.05)
            state = read_state(tmp_path / "state.json")
        assert state is not None
        part = state["parts"]["steady"]  # type: ignore[index]
        assert part["pid_started"] == start_ticks(part["pid"])
        assert same_process(part["pid"], part["pid_started"])
        assert state["supervisor_pid"] == os.getpid()
        assert state["supervisor_started"] == start_ticks(os.getpid())
        # The same pid with another start time is another process (a reused pid).
        assert not same_process(part["pid"], part["pid_started"] + 1)
    finally:
        supervisor.stop()
        thread.join(timeout=10)
    state = read_state(tmp_path / "state.json")
    assert state is not None and state["supervisor_started"] is None
    assert state["parts"]["steady"]["pid_started"] is None  # type: ignore[index]


def test_same_process_reads_older_state_files_and_refuses_non_pids() -> None:
    assert same_process(os.getpid(), None)  # no start time kept: pid_alive decides
    assert not same_process(2**22 + 12345, None)
    for pid in (None, 0, -1, True, "1", 1.0):
        assert not same_process(pid, start_ticks(os.getpid()))


def test_status_and_run_ignore_a_state_file_whose_supervisor_pid_was_reused(
    tmp_path: Path,
) -> None:
    """A supervisor killed with -9 leaves its pid in the state file; once another process has
    that pid, `offload status` must not call it running nor `offload run` refuse to start."""
    reused = os.getpid()  # alive, but not the process that wrote the file
    started = start_ticks(reused)
    assert started is not None
    doc = {
        "supervisor_pid": reused,
        "supervisor_started": started - 1,
        "updated_at": 0,
        "parts": {"cdc": {"state": "running", "pid": reused, "pid_started": started - 1}},
    }
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "state.json").write_text(json.dumps(doc))
    env = {**os.environ, "OFFLOAD__RUNTIME__DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "offload", "status", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    shown = json.loads(done.stdout)
    assert shown["supervisor_running"] is False
    assert shown["parts"]["cdc"]["state"] == "stopped"
    # With the start time right, the same file names a live supervisor.
    doc["supervisor_started"] = started
    doc["parts"]["cdc"]["pid_started"] = started  # type: ignore[index]
    (tmp_path / "run" / "state.json").write_text(json.dumps(doc))
    again = subprocess.run(
        [sys.executable, "-m", "offload", "run"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert again.returncode == 2 and "already running" in again.stderr + again.stdout, again


def test_a_parts_own_environment_reaches_that_part_alone(tmp_path: Path) -> None:
    def part(name: str) -> tuple[str, ...]:
        out = tmp_path / f"{name}.txt"
        return _python(
            f"import os, time; open({str(out)!r}, 'w').write("
            "os.environ.get('OFFLOAD_TEST_PART_ENV', '(unset)')); time.sleep(60)"
        )

    parts = [
        PartSpec("with", part("with"), (("OFFLOAD_TEST_PART_ENV", "shared"),)),
        PartSpec("without", part("without")),
    ]
    supervisor = Supervisor(parts, FAST, tmp_path / "state.json", None)
    thread = threading.Thread(target=supervisor.run)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        written = [tmp_path / "with.txt", tmp_path / "without.txt"]
        while time.monotonic() < deadline and not all(
            p.exists() and p.stat().st_size for p in written
        ):
            time.sleep(0.05)
        assert [p.read_text() for p in written] == ["shared", "(unset)"]
    finally:
        supervisor.stop()
        thread.join(timeout=10)
    assert "OFFLOAD_TEST_PART_ENV" not in os.environ
