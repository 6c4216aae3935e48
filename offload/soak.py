"""`offload soak`: the chaos soak. The whole gateway under `offload run` on a broker of its
own, the simulator writing and the reference scheduler loading, while every long-running part
is killed with SIGKILL at seeded random moments, the broker is killed and restarted, and parts
are paused with SIGSTOP beyond the transaction timeouts; then everything converges and the
soak checks that nothing was lost, duplicated, reordered or left incomplete.

Steps: a fresh `<data_dir>/soak` with its own broker on free ports (`offload.soak_setup`);
`sor init` and a first `reference load`; `offload simulate` and `offload run` started; the
fault plan carried out (`offload.soak_chaos`); the simulator's last LSN awaited in the read
models and the extract's last version in its topic; `offload run` stopped; the checks
(`offload.soak_checks`); the broker stopped. Logs stay in `<data_dir>/soak`.
"""

from __future__ import annotations

import json
import logging
import random
import signal
import sqlite3
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from config import CaptureSettings, Settings
from offload import broker
from offload.soak_chaos import PARTS, Chaos, Say, Tally, plan
from offload.soak_checks import (
    ReconcileCheck,
    StreamCheck,
    check_reconcile,
    check_reference,
    check_stream,
)
from offload.soak_setup import CHAOTIC_JOB, ExtractWriter, SoakDeployment, prepare
from plumbing.errors import OffloadError

logger = logging.getLogger(__name__)

CDC_TRANSACTION_TIMEOUT_S = float(CaptureSettings().transaction_timeout_s)
"""The default `capture.transaction_timeout_s`, which the soak's deployment keeps: a pause of
capture beyond it has the broker abort its open transaction."""


class SoakError(OffloadError):
    """A step of the soak could not be carried out; the message names it and its log."""


@dataclass(frozen=True, slots=True)
class SoakOptions:
    """The soak's parameters (see `offload soak --help`)."""

    duration_s: float = 600.0
    seed: int = 1
    kills_per_part: int = 10
    broker_restarts: int = 2
    pauses: int = 1
    pause_s: float = CDC_TRANSACTION_TIMEOUT_S + 5
    tps: float = 20.0
    converge_timeout_s: float = 300.0


@dataclass(slots=True)
class SoakReport:
    """The soak's figures and verdict."""

    options: dict[str, Any]
    kills: dict[str, int] = field(default_factory=dict)
    kills_mid_load: int = 0
    broker_restarts: int = 0
    pauses: int = 0
    skipped_faults: list[str] = field(default_factory=list)
    chaos_s: float = 0.0
    converged: bool = False
    converge_s: float = 0.0
    not_converged: str = ""
    units_of_work: int = 0
    events_expected: int = 0
    events_captured: int = 0
    missing: int = 0
    extra: int = 0
    order_violations: int = 0
    incomplete_units: int = 0
    units_checked: int = 0
    mirror_mismatches: int = 0
    view_mismatches: int = 0
    reference_mismatches: int = 0
    mirrors_checked: int = 0
    views_checked: int = 0
    samples: dict[str, list[str]] = field(default_factory=dict)
    data_dir: str = ""

    @property
    def ok(self) -> bool:
        """Everything converged and every count of a fault's damage is zero."""
        return self.converged and not any(
            (
                self.missing,
                self.extra,
                self.order_violations,
                self.incomplete_units,
                self.mirror_mismatches,
                self.view_mismatches,
                self.reference_mismatches,
            )
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures, with the verdict."""
        return {**asdict(self), "ok": self.ok}


def run_soak(base: Settings, config_path: Path, options: SoakOptions, say: Say) -> SoakReport:
    """The whole soak; the report says what happened and what the checks found."""
    deployment = prepare(base, config_path)
    deployment.logs.mkdir(parents=True, exist_ok=True)
    report = SoakReport(options=asdict(options), data_dir=str(deployment.settings.data_dir))
    extract = ExtractWriter(deployment, options.seed)
    extract.write_next()
    say(f"soak in {deployment.settings.data_dir}, seed {options.seed}")
    try:
        broker.up(deployment.settings, on_step=lambda message: say(f"  broker: {message}"))
        _step(deployment, "sor", "init")
        _step(deployment, "reference", "load")
        _soak(deployment, options, extract, report, say)
    finally:
        broker.down(deployment.settings)
    return report


def _soak(
    deployment: SoakDeployment,
    options: SoakOptions,
    extract: ExtractWriter,
    report: SoakReport,
    say: Say,
) -> None:
    logs = deployment.logs
    sim_out = (logs / "simulate.json").open("wb")
    simulate = _start(deployment, sim_out, logs / "simulate.log", "simulate", *_sim_args(options))
    gateway = _start(deployment, logs / "run.log", None, "run")
    rng = random.Random(options.seed)
    chaos = Chaos(deployment.settings, rng, options.pause_s, extract.write_next, say)
    try:
        _wait_parts_up(deployment, gateway, say)
        faults = plan(
            rng,
            options.duration_s,
            options.kills_per_part,
            options.broker_restarts,
            options.pauses,
            options.pause_s,
        )
        say(f"chaos: {len(faults)} faults over {options.duration_s:.0f} s")
        started = time.monotonic()
        chaos.run(faults, started)
        report.chaos_s = round(time.monotonic() - started, 1)
        _record_tally(report, chaos.tally)
        last_lsn = _simulation_end(simulate, sim_out, logs / "simulate.json", report, say)
        extract.write_next()
        _converge(deployment, gateway, last_lsn, options, report, say)
    finally:
        chaos.resume_all()
        _stop(gateway, "offload run")
        _stop(simulate, "offload simulate")
        sim_out.close()
    say("checking: `offload reconcile` (capture rows against change topics, mirrors)")
    _record_reconcile(report, check_reconcile(deployment.settings))
    say("checking: per-key order and units of work against their END markers")
    _record_stream(report, check_stream(deployment.settings))
    say("checking: reference topics against their extracts")
    reference = check_reference(deployment.settings)
    report.reference_mismatches = sum(len(d) for d in reference.values())
    report.samples["reference"] = [d for diffs in reference.values() for d in diffs][:5]


def _sim_args(options: SoakOptions) -> tuple[str, ...]:
    seconds = f"{options.duration_s:g}"
    return (
        "--duration",
        seconds,
        "--tps",
        f"{options.tps:g}",
        "--seed",
        str(options.seed),
        "--json",
    )


def _step(deployment: SoakDeployment, *args: str) -> None:
    log = deployment.logs / "steps.log"
    with log.open("ab") as out:
        code = subprocess.call(
            deployment.offload(*args), env=deployment.env, stdout=out, stderr=out
        )
    if code != 0:
        raise SoakError(f"`offload {' '.join(args)}` failed (exit {code}); see {log}")


def _start(
    deployment: SoakDeployment, out: Path | IO[bytes], err: Path | None, *args: str
) -> subprocess.Popen[bytes]:
    stdout = out.open("ab") if isinstance(out, Path) else out
    stderr = subprocess.STDOUT if err is None else err.open("ab")
    return subprocess.Popen(  # argv built here, no shell
        deployment.offload(*args), env=deployment.env, stdout=stdout, stderr=stderr
    )


def _wait_parts_up(
    deployment: SoakDeployment, gateway: subprocess.Popen[bytes], say: Say, timeout_s: float = 180
) -> None:
    """Wait until the query API answers with something applied: every part has started."""
    deadline = time.monotonic() + timeout_s
    while _watermark(deployment) <= 0:
        if gateway.poll() is not None:
            raise SoakError(f"`offload run` exited with {gateway.returncode}; see its log")
        if time.monotonic() > deadline:
            raise SoakError(f"the query API showed nothing applied within {timeout_s:.0f} s")
        time.sleep(0.5)
    say(f"gateway up: the query API answers at LSN {_watermark(deployment)}")


def _watermark(deployment: SoakDeployment, min_lsn: int = 0) -> int:
    """The watermark the query API answers with, as a user sees it (0 while it cannot answer).

    With `min_lsn` the API waits up to 2 s for it (read-your-writes). The projection's
    status.json is not used: it is written at most once a second and can lag the database.
    """
    params = {"min_lsn": min_lsn, "wait_ms": 2000} if min_lsn else {}
    headers = {"X-API-Key": deployment.api_key}
    try:
        answer = httpx.get(
            f"{deployment.base_url}/freshness", params=params, headers=headers, timeout=5
        )
        lsn = answer.json()["watermark"]["lsn"] if answer.status_code == 200 else 0
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return 0
    return int(lsn) if isinstance(lsn, int) else 0


def _simulation_end(
    simulate: subprocess.Popen[bytes], out: IO[bytes], path: Path, report: SoakReport, say: Say
) -> int:
    """Wait for the simulator's end; its last LSN."""
    code = simulate.wait(timeout=600)
    out.close()
    if code != 0:
        raise SoakError(f"`offload simulate` failed (exit {code}); see {path.parent}")
    summary = json.loads(path.read_text(encoding="utf-8"))
    report.units_of_work = int(summary["units_of_work"])
    say(f"simulator done: {report.units_of_work} units of work, last LSN {summary['last_lsn']}")
    return int(summary["last_lsn"] or 0)


def _converge(  # noqa: PLR0917 - one call site, each argument a piece of the soak
    deployment: SoakDeployment,
    gateway: subprocess.Popen[bytes],
    last_lsn: int,
    options: SoakOptions,
    report: SoakReport,
    say: Say,
) -> None:
    """Wait until the read models reach `last_lsn` and the last extract is loaded; a soak
    that does not converge in time is reported (with where it stopped) and still checked."""
    say(f"converging: waiting for LSN {last_lsn} in the read models and the last extract")
    started = time.monotonic()
    digest = _sha256(deployment.extract)
    while time.monotonic() - started <= options.converge_timeout_s:
        watermark = _watermark(deployment, min_lsn=last_lsn)
        loaded = _extract_loaded(deployment, digest)
        if watermark >= last_lsn and loaded:
            report.converged, report.converge_s = True, round(time.monotonic() - started, 1)
            say(f"converged after {report.converge_s} s")
            return
        if gateway.poll() is not None:
            report.not_converged = f"`offload run` exited with {gateway.returncode}"
            break
        time.sleep(0.5)
    else:
        report.not_converged = (
            f"not converged within {options.converge_timeout_s:.0f} s: projection watermark "
            f"at LSN {watermark} of {last_lsn}, last extract loaded: {loaded}"
        )
    report.converge_s = round(time.monotonic() - started, 1)
    say(f"NOT CONVERGED: {report.not_converged}; logs in {deployment.settings.data_dir}")


def _sha256(path: Path) -> str:
    from reference_loader.load import file_sha256

    return file_sha256(path)


def _extract_loaded(deployment: SoakDeployment, digest: str) -> bool:
    """Whether a run of the chaotic job has loaded the extract with this digest (runs follow
    each other every second, so the newest is often one in progress)."""
    path = deployment.settings.data_dir / "reference" / "ledger.sqlite"
    sql = (
        "SELECT source_sha256, status FROM runs WHERE job = ? AND source_sha256 = ? "
        "AND status IN ('loaded', 'unchanged') LIMIT 1"
    )
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        try:
            row = conn.execute(sql, (CHAOTIC_JOB, digest)).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return row is not None


def _stop(proc: subprocess.Popen[bytes], what: str) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop within 90 s of SIGTERM; killing it", what)
            proc.kill()
            proc.wait()


def _record_tally(report: SoakReport, tally: Tally) -> None:
    report.kills = {part: tally.kills[part] for part in PARTS}
    report.kills_mid_load = tally.kills_mid_load
    report.broker_restarts = tally.broker_restarts
    report.pauses = tally.pauses
    report.skipped_faults = tally.skipped


def _record_reconcile(report: SoakReport, check: ReconcileCheck) -> None:
    report.events_expected, report.events_captured = check.expected, check.published
    report.missing, report.extra = check.missing, check.extra
    report.mirrors_checked, report.mirror_mismatches = check.mirrors, check.mirror_mismatches
    report.views_checked, report.view_mismatches = check.views_checked, check.view_mismatches
    report.samples["reconcile"] = check.samples[:10]


def _record_stream(report: SoakReport, stream: StreamCheck) -> None:
    report.order_violations = len(stream.order_violations)
    report.incomplete_units, report.units_checked = len(stream.incomplete_units), stream.units
    report.samples |= {"order": stream.order_violations[:5], "units": stream.incomplete_units[:5]}
