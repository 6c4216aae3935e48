"""The local single-node Apache Kafka broker: start it, find it, stop it.

`up` resolves the jars (once per version), writes the config, formats the storage (once per
data directory), starts `kafka.Kafka` detached and returns when it answers metadata requests.
It is idempotent: when a broker already answers on the configured port, it starts nothing.
`down` stops only the broker whose pid `up` recorded, after checking that the pid still
belongs to that broker (pids are reused).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from config import KafkaSettings, Settings
from offload import broker_security
from offload.broker_config import (
    BrokerLayout,
    java_command,
    log4j2_properties,
    new_cluster_id,
    render_properties,
    server_properties,
)
from offload.kafka_jars import JavaTools, cached_classpath, find_tools, resolve_classpath
from plumbing.kafka_errors import BrokerStartFailed, PortInUse
from plumbing.processes import pid_alive
from plumbing.topics import ping

logger = logging.getLogger(__name__)

StepReporter = Callable[[str], None]
"""Called with a short description of each step `up` begins (for progress output)."""

_FORMAT_HEAP_MB = 256
_STOP_TIMEOUT_S = 30.0
_KILL_TIMEOUT_S = 10.0

# Started through a short-lived launcher, the broker is not our child: it survives the CLI,
# never becomes our zombie, and no Popen object is left to warn that it is still running.
_LAUNCHER = """\
import subprocess, sys
with open(sys.argv[1], "ab") as out:
    proc = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)
print(proc.pid)
"""


@dataclass(frozen=True)
class UpResult:
    """What `up` found or did."""

    address: str
    """host:port of the broker's client listener."""
    started: bool
    """False when a broker already answered and nothing was started."""
    pid: int | None
    """Pid of the broker started from this data dir, if one is recorded and running."""
    resolved_jars: bool = False
    """Whether Maven ran (no cached classpath for this version)."""
    formatted: bool = False
    """Whether the storage was formatted (a fresh data dir)."""


@dataclass(frozen=True)
class DownResult:
    """What `down` did."""

    stopped_pid: int | None
    """The pid that was stopped, or None when nothing was."""
    note: str
    """One line for the user."""


def local_address(settings: Settings) -> str:
    """host:port of the local broker's client listener."""
    local = settings.kafka.local
    return f"{local.host}:{local.port}"


def local_client_settings(settings: Settings) -> KafkaSettings:
    """Client settings that reach the local broker whatever the config points at: plaintext,
    or for a "sasl_ssl" broker its own principal on the internal TLS listener."""
    if broker_security.secured(settings):
        return broker_security.internal_client_settings(settings)
    return KafkaSettings(bootstrap_servers=local_address(settings))


def up(
    settings: Settings, on_step: StepReporter | None = None, search_path: str | None = None
) -> UpResult:
    """Start the local broker unless one already answers; return once it answers.

    Args:
        settings: the configuration (kafka.local and the data dir).
        on_step: told about each step (resolving jars, formatting, starting, waiting).
        search_path: the PATH to find java and mvn on; default the process's PATH.

    Raises:
        ToolMissing: java 17+ or mvn is not available.
        JarResolutionFailed: Maven could not resolve the jars.
        PortInUse: a port is held by something that is not a Kafka broker.
        BrokerStartFailed: the broker exited or did not answer within kafka.local.start_timeout_s.
        BrokerSecurityMisconfigured: a "sasl_ssl" broker lacks a setting or a file.
        BrokerProvisionFailed: a "sasl_ssl" broker refused the gateway's user or ACLs.
    """
    report = on_step or (lambda _message: None)
    layout = BrokerLayout(settings.kafka_dir)
    address = local_address(settings)
    client = local_client_settings(settings)
    local = settings.kafka.local
    if broker_security.secured(settings):
        broker_security.check_settings(settings)
    if _listening(local.host, local.port) and ping(client, timeout=5.0):
        _provision(settings, report)
        return UpResult(address=address, started=False, pid=running_pid(layout))
    pid = running_pid(layout)
    if pid is not None:  # ours, still starting up (or hung): wait for it rather than start another
        report(f"waiting for the broker already starting (pid {pid})")
        _wait_until_answering(settings, layout, pid)
        _provision(settings, report)
        return UpResult(address=address, started=False, pid=pid)
    _check_port_free(local.host, local.port, "kafka.local.port")
    _check_port_free(local.host, local.controller_port, "kafka.local.controller_port")
    if broker_security.secured(settings):
        _check_port_free(local.host, local.internal_port, "kafka.local.internal_port")
    tools = find_tools(search_path)
    classpath = cached_classpath(layout, local.version)
    resolved = classpath is None
    if classpath is None:
        report(f"resolving the Apache Kafka {local.version} jars with Maven (once per version)")
        classpath = resolve_classpath(tools, layout, local.version)
    _write_configs(settings, layout)
    formatted = not layout.meta_properties.is_file()
    if formatted:
        report(f"formatting the broker storage in {layout.data_dir}")
        _format_storage(tools, classpath, layout)
    report(f"starting the broker on {address} (heap {local.heap_mb} MiB)")
    pid = _start(tools, classpath, settings, layout)
    report(f"waiting for the broker (pid {pid}) to answer metadata requests")
    _wait_until_answering(settings, layout, pid)
    _provision(settings, report)
    return UpResult(address, started=True, pid=pid, resolved_jars=resolved, formatted=formatted)


def down(settings: Settings) -> DownResult:
    """Stop the broker this data dir's `up` started: SIGTERM, then SIGKILL if it lingers.

    Nothing else is ever signalled: a recorded pid that now belongs to another process is
    reported and forgotten.
    """
    layout = BrokerLayout(settings.kafka_dir)
    pid = recorded_pid(layout)
    if pid is None:
        note = f"no broker started from {layout.root} is recorded; nothing to stop"
        return DownResult(None, note)
    if not pid_alive(pid):
        layout.pid_file.unlink(missing_ok=True)
        return DownResult(None, f"the recorded broker (pid {pid}) is not running; nothing to stop")
    if not is_our_broker(pid, layout):
        layout.pid_file.unlink(missing_ok=True)
        return DownResult(
            None,
            f"pid {pid} recorded in {layout.pid_file} is no longer the Kafka broker started "
            "from there (the pid was reused); not signalling it",
        )
    logger.info("stopping the local broker, pid %d", pid)
    _signal(pid, signal.SIGTERM)
    if not _wait_for_exit(pid, _STOP_TIMEOUT_S):
        logger.warning("broker pid %d ignored SIGTERM for %g s; killing it", pid, _STOP_TIMEOUT_S)
        _signal(pid, signal.SIGKILL)
        _wait_for_exit(pid, _KILL_TIMEOUT_S)
    layout.pid_file.unlink(missing_ok=True)
    return DownResult(pid, f"stopped the local broker (pid {pid})")


def recorded_pid(layout: BrokerLayout) -> int | None:
    """The pid in the broker's pid file, if there is a readable one."""
    try:
        return int(layout.pid_file.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def running_pid(layout: BrokerLayout) -> int | None:
    """The recorded pid if that process is alive and is the broker of this directory."""
    pid = recorded_pid(layout)
    if pid is not None and pid_alive(pid) and is_our_broker(pid, layout):
        return pid
    return None


def is_our_broker(pid: int, layout: BrokerLayout) -> bool:
    """Whether `pid` runs java with kafka.Kafka on this directory's server.properties."""
    args = _command_line(pid)
    return (
        len(args) > 2
        and Path(args[0]).name == "java"
        and "kafka.Kafka" in args
        and str(layout.server_properties) in args
    )


def log_tail(layout: BrokerLayout, lines: int = 25) -> str:
    """The last lines of the JVM's console output and of the broker log, for error messages."""
    parts = []
    for path in (layout.console_log, layout.server_log):
        with contextlib.suppress(OSError):
            text = path.read_text(encoding="utf-8", errors="replace").strip()
            if text:
                parts.append("\n".join(text.splitlines()[-lines:]))
    return "\n".join(parts) or "(the log is empty)"


def _write_configs(settings: Settings, layout: BrokerLayout) -> None:
    layout.logs_dir.mkdir(parents=True, exist_ok=True)
    layout.data_dir.mkdir(parents=True, exist_ok=True)
    note = "written by `offload kafka up`; edit config/offload.toml [kafka.local] instead"
    if broker_security.secured(settings):
        broker_security.write_keystore(settings, layout)
    props = server_properties(settings.kafka.local, layout, settings.kafka.ssl_ca_location)
    layout.server_properties.write_text(render_properties(props, note), encoding="utf-8")
    logging_props = log4j2_properties(layout)
    layout.log4j2_properties.write_text(render_properties(logging_props, note), encoding="utf-8")


def _provision(settings: Settings, report: StepReporter) -> None:
    if broker_security.secured(settings):
        report(f"granting user {settings.kafka.sasl_username} its SCRAM credential and ACLs")
        broker_security.provision(settings)


def _format_storage(tools: JavaTools, classpath: str, layout: BrokerLayout) -> None:
    command = java_command(
        tools.java,
        classpath,
        _FORMAT_HEAP_MB,
        layout,
        [
            "kafka.tools.StorageTool",
            "format",
            "--config",
            str(layout.server_properties),
            "--cluster-id",
            new_cluster_id(),
            "--standalone",
            "--ignore-formatted",
        ],
    )
    output = layout.root / "format.out"
    with output.open("wb") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = output.read_text(encoding="utf-8", errors="replace").strip()
        reason = f"formatting the storage failed (exit code {done.returncode})"
        raise BrokerStartFailed(reason, output, tail)


def _start(tools: JavaTools, classpath: str, settings: Settings, layout: BrokerLayout) -> int:
    main = ["kafka.Kafka", str(layout.server_properties)]
    command = java_command(tools.java, classpath, settings.kafka.local.heap_mb, layout, main)
    launched = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, str(layout.console_log), *command],
        capture_output=True,
        text=True,
        check=False,
    )
    if launched.returncode != 0:
        stderr = launched.stderr.strip()
        raise BrokerStartFailed("java could not be launched", layout.console_log, stderr)
    pid = int(launched.stdout.strip())
    layout.pid_file.write_text(f"{pid}\n", encoding="ascii")
    logger.info("started kafka.Kafka, pid %d, log %s", pid, layout.server_log)
    return pid


def _wait_until_answering(settings: Settings, layout: BrokerLayout, pid: int) -> None:
    client = local_client_settings(settings)
    timeout = settings.kafka.local.start_timeout_s
    deadline = time.monotonic() + timeout
    host, port = settings.kafka.local.host, settings.kafka.local.port
    while not (_listening(host, port) and ping(client, timeout=2.0)):
        if not pid_alive(pid):
            layout.pid_file.unlink(missing_ok=True)
            reason = f"the broker process (pid {pid}) exited"
            raise BrokerStartFailed(reason, layout.server_log, log_tail(layout))
        if time.monotonic() >= deadline:
            tail = log_tail(layout)
            _signal(pid, signal.SIGKILL)
            layout.pid_file.unlink(missing_ok=True)
            reason = (
                f"it did not answer on {local_address(settings)} within {timeout:g} s "
                "(kafka.local.start_timeout_s); it was killed"
            )
            raise BrokerStartFailed(reason, layout.server_log, tail)
        time.sleep(0.25)


def _listening(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on host:port (much quicker than a ping)."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _check_port_free(host: str, port: int, key: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Like the JVM, allow binding over connections in TIME_WAIT; only a listener conflicts.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(host, port, key) from exc
            raise


def _command_line(pid: int) -> list[str]:
    proc = Path("/proc") / str(pid) / "cmdline"
    if proc.parent.parent.is_dir():
        try:
            return [a for a in proc.read_bytes().decode(errors="replace").split("\0") if a]
        except OSError:
            return []
    ps = ["ps", "-o", "args=", "-p", str(pid)]
    done = subprocess.run(ps, capture_output=True, text=True, check=False)
    return done.stdout.split()


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_for_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True
