"""The gateway the freshness benchmark measures: `offload` commands run as children of the bench.

A `Gateway` is the argv prefix and environment of those children: the user's configuration file
with the run's own data dir, topic prefix, free API port and admin key layered on top through
`OFFLOAD__…` variables, so a bench run never touches the user's state. `serving` keeps
`offload run` up for the length of a `with` block and stops it (SIGTERM, then SIGKILL after 60 s).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from config import Settings, load_settings

STOP_TIMEOUT_S = 60


@dataclass(frozen=True, slots=True)
class Gateway:
    """How to run `offload` commands for the freshness benchmark: argv prefix and environment.

    Attributes:
        argv: `python -m offload --config FILE`.
        env: the environment of every child (its own data dir, topic prefix, API port and key).
        settings: the settings that environment gives.
        api_key: the admin key the probe uses.
        log: where the children's output goes.
    """

    argv: tuple[str, ...]
    env: dict[str, str]
    settings: Settings
    api_key: str
    log: Path

    @property
    def base_url(self) -> str:
        """Where the gateway's query API listens."""
        return f"http://{self.settings.api.host}:{self.settings.api.port}"

    def call(self, *args: str) -> None:
        """Run one `offload` command to completion; raise RuntimeError with its log on failure."""
        with self.log.open("ab") as out:
            code = subprocess.call([*self.argv, *args], env=self.env, stdout=out, stderr=out)
        if code:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-15:])
            raise RuntimeError(f"offload {' '.join(args)} failed (exit {code}):\n{tail}")

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """Start a long-running `offload` command in the background."""
        with self.log.open("ab") as out:
            return subprocess.Popen(
                [*self.argv, *args], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )


def gateway_for(
    state_dir: Path,
    topic_prefix: str,
    config_path: Path,
    log: Path,
    extra: Mapping[str, str] | None = None,
) -> Gateway:
    """A gateway on the user's configuration with its own state, topics, API port and key.

    Args:
        state_dir: the gateway's data dir.
        topic_prefix: the prefix of every topic it creates.
        config_path: the user's configuration file.
        log: where the children's output goes.
        extra: more `OFFLOAD__…` settings, layered on top (e.g. the bootstrap servers).
    """
    key = secrets.token_urlsafe(24)
    keys = {"bench": {"role": "admin", "sha256": hashlib.sha256(key.encode()).hexdigest()}}
    env = {
        **os.environ,
        "OFFLOAD__RUNTIME__DATA_DIR": str(state_dir),
        "OFFLOAD__RUNTIME__LOG_LEVEL": "WARNING",
        "OFFLOAD__KAFKA__TOPIC_PREFIX": topic_prefix,
        "OFFLOAD__API__KEYS": json.dumps(keys),
        "OFFLOAD__API__PORT": str(free_port()),
        "OFFLOAD__RUN__REFERENCE": "false",
        **(extra or {}),
    }
    settings = load_settings(config_path, env=env)
    argv = (sys.executable, "-m", "offload", "--config", str(config_path))
    return Gateway(argv, env, settings, key, log)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(gateway: Gateway) -> Iterator[subprocess.Popen[bytes]]:
    """`offload run` of the gateway for the length of the block; stopped when it ends."""
    supervisor = gateway.start("run")
    try:
        yield supervisor
    finally:
        supervisor.send_signal(signal.SIGTERM)
        try:
            supervisor.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            supervisor.kill()
            supervisor.wait()
