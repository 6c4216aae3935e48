"""What `offload kafka up|down` says when it cannot do its job (no Kafka needed)."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from config import Settings
from offload.broker import down, up
from offload.kafka_jars import find_tools
from plumbing.kafka_errors import PortInUse, ToolMissing

SUFFIX = (
    "; the local Kafka needs Java 17+ and Maven on the PATH "
    "(or point kafka.bootstrap_servers at an existing cluster)"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _program(directory: Path, name: str, script: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)


@pytest.fixture
def dead_port_settings(settings_factory: Callable[..., Settings]) -> Settings:
    """Settings whose local broker ports nothing listens on."""
    return settings_factory(
        {"kafka.local.port": _free_port(), "kafka.local.controller_port": _free_port()}
    )


def test_missing_java_is_named(tmp_path: Path) -> None:
    with pytest.raises(ToolMissing) as caught:
        find_tools(search_path=str(tmp_path))

    assert caught.value.tool == "java"
    assert str(caught.value) == "java was not found on the PATH" + SUFFIX


def test_missing_maven_is_named(tmp_path: Path) -> None:
    _program(tmp_path, "java", "echo 'openjdk version \"17.0.15\" 2025-04-15' >&2")

    with pytest.raises(ToolMissing) as caught:
        find_tools(search_path=str(tmp_path))

    assert caught.value.tool == "mvn"
    assert str(caught.value) == "mvn (Maven) was not found on the PATH" + SUFFIX


def test_old_java_is_refused(tmp_path: Path) -> None:
    _program(tmp_path, "java", "echo 'java version \"1.8.0_392\"' >&2")
    _program(tmp_path, "mvn", "exit 0")

    with pytest.raises(ToolMissing) as caught:
        find_tools(search_path=str(tmp_path))

    assert str(caught.value) == (
        f'java at {tmp_path / "java"} is not Java 17+ (it says: java version "1.8.0_392")' + SUFFIX
    )


def test_cli_up_without_java_exits_2_with_the_reason(
    dead_port_settings: Settings,
    run_offload: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()

    done = run_offload(dead_port_settings, "kafka", "up", env={"PATH": str(empty)})

    assert done.returncode == 2
    assert "offload: error: java was not found on the PATH" + SUFFIX in " ".join(
        done.stderr.split()
    )


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port that accepts connections and never answers: not a Kafka broker."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield int(server.getsockname()[1])


def test_port_held_by_something_else_is_reported(
    silent_listener: int, settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory(
        {"kafka.local.port": silent_listener, "kafka.local.controller_port": _free_port()}
    )

    with pytest.raises(PortInUse) as caught:
        up(settings)

    assert caught.value.exit_code == 2
    assert str(caught.value) == (
        f"port 127.0.0.1:{silent_listener} is in use by something that does not answer as a "
        "Kafka broker; stop it or choose another port with kafka.local.port"
    )


def test_down_without_a_recorded_broker_does_nothing(dead_port_settings: Settings) -> None:
    result = down(dead_port_settings)

    assert result.stopped_pid is None
    assert result.note == (
        f"no broker started from {dead_port_settings.kafka_dir} is recorded; nothing to stop"
    )


def test_down_never_signals_a_reused_pid(dead_port_settings: Settings) -> None:
    pid_file = dead_port_settings.kafka_dir / "broker.pid"
    pid_file.parent.mkdir(parents=True)
    with subprocess.Popen(["sleep", "60"]) as stranger:
        pid_file.write_text(f"{stranger.pid}\n")
        try:
            result = down(dead_port_settings)

            assert stranger.poll() is None, "down signalled a process that is not our broker"
        finally:
            stranger.kill()
    assert result.stopped_pid is None
    assert result.note == (
        f"pid {stranger.pid} recorded in {pid_file} is no longer the Kafka broker started "
        "from there (the pid was reused); not signalling it"
    )
    assert not pid_file.exists()
