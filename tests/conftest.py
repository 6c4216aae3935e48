"""Shared fixtures: the real local Kafka broker and settings that point at it.

The test broker listens on its own ports, 19192 (clients) and 19193 (KRaft controller), so
tests never touch the broker a developer runs for the demo (19092/19093). Its data and log
live in `<repo>/.offload-test/kafka` (git-ignored). The session fixture reuses a broker that
already answers on 19192, else starts one, and stops it at the end only if it started it.
Under pytest-xdist (`-n N`, as `make test` runs) the controller starts (or reuses) the broker
before any worker starts, so that the workers share it and none races another to start it;
the controller stops it at the end if it started it.

Fixtures:
    kafka_broker: session; the `Settings` the test broker was started with.
    settings_factory: function; makes `Settings` with a unique topic prefix and a fresh data
        dir, pointing at the test broker, with optional overrides by dotted key.
    kafka_settings: function; `settings_factory()` once the broker is up: the common case.
    run_offload: function; runs the `offload` CLI in a subprocess with given settings.
    start_offload: function; starts a long-running `offload` command in the background with
        given settings; every process still running at teardown gets SIGTERM.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import pytest
from pydantic import BaseModel, SecretStr
from pydantic_core import to_jsonable_python

from config import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
CONFIG_FILE = REPO / "config" / "offload.toml"
TEST_DATA_DIR = REPO / ".offload-test"
TEST_KAFKA_PORT = int(os.environ.get("OFFLOAD_TEST_KAFKA_PORT", "19192"))
"""Set OFFLOAD_TEST_KAFKA_PORT to run a second suite at once (another checkout) on its own
broker; the controller listens on the next port."""
TEST_CONTROLLER_PORT = TEST_KAFKA_PORT + 1

_TEST_BROKER_ENV = {
    "OFFLOAD__RUNTIME__DATA_DIR": str(TEST_DATA_DIR),
    "OFFLOAD__KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{TEST_KAFKA_PORT}",
    "OFFLOAD__KAFKA__LOCAL__PORT": str(TEST_KAFKA_PORT),
    "OFFLOAD__KAFKA__LOCAL__CONTROLLER_PORT": str(TEST_CONTROLLER_PORT),
}


def _env_name(dotted: str) -> str:
    return "OFFLOAD__" + "__".join(part.upper() for part in dotted.split("."))


def _env_value(value: Any) -> str:
    # pydantic-settings reads complex values (lists, dicts) from the environment as JSON.
    if isinstance(value, str | Path):
        return str(value)
    return json.dumps(value)


def settings_env(settings: BaseModel, prefix: str = "OFFLOAD") -> dict[str, str]:
    """Every non-secret, non-null value of `settings` as OFFLOAD__ environment variables."""
    env: dict[str, str] = {}
    for name, field in type(settings).model_fields.items():
        value = getattr(settings, name)
        key = f"{prefix}__{(field.alias or name).upper()}"
        if isinstance(value, BaseModel):
            env.update(settings_env(value, key))
        elif value is not None and not isinstance(value, SecretStr):
            env[key] = _env_value(to_jsonable_python(value))
    return env


class SettingsFactory(Protocol):
    """Makes test settings; see the `settings_factory` fixture."""

    def __call__(
        self, overrides: Mapping[str, Any] | None = None, *, topic_prefix: str | None = None
    ) -> Settings: ...


_STARTED_BROKER = pytest.StashKey[Settings]()


def _broker_up() -> tuple[Settings, bool]:
    """The test broker's settings, once it answers; and whether it was started here.

    A broker started here begins with empty storage, so the uuid-named topics of earlier
    runs do not pile up (formatting costs about a second).
    """
    from offload.broker import running_pid, up
    from offload.broker_config import BrokerLayout
    from plumbing.topics import ping

    settings = load_settings(CONFIG_FILE, env=dict(_TEST_BROKER_ENV))
    layout = BrokerLayout(settings.kafka_dir)
    if running_pid(layout) is None and not ping(settings.kafka, timeout=1.0):
        shutil.rmtree(layout.data_dir, ignore_errors=True)
    return settings, up(settings).started


def pytest_configure(config: pytest.Config) -> None:
    """Under xdist, the controller starts the shared broker before the workers start."""
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", default=None):
        return
    settings, started = _broker_up()
    if started:
        config.stash[_STARTED_BROKER] = settings


def pytest_unconfigure(config: pytest.Config) -> None:
    """The controller stops the broker it started (see `pytest_configure`)."""
    from offload.broker import down

    settings = config.stash.get(_STARTED_BROKER, None)
    if settings is not None:
        down(settings)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Settings]:
    """The real local test broker: reused when one answers on 19192, else started here."""
    from offload.broker import down

    settings, started = _broker_up()
    yield settings
    if started:
        down(settings)


@pytest.fixture
def settings_factory(tmp_path: Path) -> SettingsFactory:
    """A function making `Settings` for the test broker, each with its own topic prefix.

    Each call gets a uuid-based `kafka.topic_prefix` (unless `topic_prefix` is given, to
    share topics between two settings) and its own `runtime.data_dir` under `tmp_path`.
    `overrides` maps dotted keys to values, e.g. `{"kafka.partitions": 1}`. It does not start
    the broker: ask for `kafka_broker` (or use `kafka_settings`) when the test needs Kafka.
    """
    made = 0

    def make(
        overrides: Mapping[str, Any] | None = None, *, topic_prefix: str | None = None
    ) -> Settings:
        nonlocal made
        made += 1
        env = dict(_TEST_BROKER_ENV)
        env["OFFLOAD__RUNTIME__DATA_DIR"] = str(tmp_path / f"data-{made}")
        env["OFFLOAD__KAFKA__TOPIC_PREFIX"] = topic_prefix or f"t-{uuid.uuid4().hex[:12]}"
        for key, value in (overrides or {}).items():
            env[_env_name(key)] = _env_value(value)
        return load_settings(CONFIG_FILE, env=env)

    return make


@pytest.fixture
def kafka_settings(kafka_broker: Settings, settings_factory: SettingsFactory) -> Settings:
    """Settings on the running test broker, with a topic prefix no other test uses."""
    return settings_factory()


def offload_env(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of an `offload` child: the caller's (PATH, HOME, JAVA_HOME) minus any
    OFFLOAD setting of its own, plus exactly `settings` and `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("OFFLOAD")}
    env["OFFLOAD_CONFIG"] = str(CONFIG_FILE)
    env |= settings_env(settings)
    env |= dict(extra or {})
    return env


@pytest.fixture
def start_offload(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `python -m offload ARGS` in the background; output goes to a log file in tmp_path.

    Call it as `start_offload(settings, "serve")`; the process is stopped (SIGTERM, then
    SIGKILL after 30 s) at teardown if it still runs.
    """
    started: list[subprocess.Popen[bytes]] = []

    def start(
        settings: Settings, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"{'-'.join(args)}-{len(started)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "offload", *args],
            cwd=REPO,
            env=offload_env(settings, env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def run_offload() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `python -m offload ARGS` with exactly the given settings (and extra env vars).

    Call it as `run_offload(settings, "kafka", "status", env={"PATH": ...})`.
    """

    def run(
        settings: Settings, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "offload", *args],
            cwd=REPO,
            env=offload_env(settings, env),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    return run
