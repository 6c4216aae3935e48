"""The soak's own deployment: a data dir, a broker on free ports, a query API port, restart
timing fit for hundreds of kills, and a reference extract that keeps changing.

Nothing here touches the user's broker or data: the soak lives in `<data_dir>/soak`, cleaned
at its start and left behind at its end (logs included) for inspection.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import secrets
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from config import Settings, load_settings

CHAOTIC_JOB = "ports"
"""The reference job whose extract the soak rewrites (its other jobs keep their extracts)."""

SYNTHETIC_PORTS = 4000
"""Rows the soak adds to the ports extract, so that a load takes long enough to be hit."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True, slots=True)
class SoakDeployment:
    """The soak's settings, its children's environment and its files."""

    settings: Settings
    env: dict[str, str]
    config_path: Path
    extract: Path
    base_extract: Path
    api_key: str

    def offload(self, *args: str) -> list[str]:
        """The argv of an `offload` command against the soak's deployment."""
        return [sys.executable, "-m", "offload", "--config", str(self.config_path), *args]

    @property
    def base_url(self) -> str:
        """Where the soak's query API listens."""
        return f"http://{self.settings.api.host}:{self.settings.api.port}"

    @property
    def logs(self) -> Path:
        """Where the soak's own command outputs go (the parts log to <data_dir>/logs)."""
        return self.settings.data_dir / "soak-logs"


def prepare(base: Settings, config_path: Path) -> SoakDeployment:
    """Derive the soak's settings from the user's and start from an empty directory."""
    root = (base.data_dir / "soak").resolve()
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    extract = root / "extracts" / f"{CHAOTIC_JOB}.csv"
    jobs = {
        n: job.model_dump(mode="json", exclude_none=True) for n, job in base.reference.jobs.items()
    }
    for spec in jobs.values():
        for key in ("source", "directory", "copybook"):
            if key in spec:
                spec[key] = str(Path(spec[key]).resolve())
    base_extract = Path(jobs.get(CHAOTIC_JOB, {}).get("source", "config/reference/ports.csv"))
    if CHAOTIC_JOB in jobs:
        # null, not absent: the environment's jobs are merged into the file's, cron included
        jobs[CHAOTIC_JOB] |= {"source": str(extract), "interval_s": 1, "cron": None}
    host = base.kafka.local.host
    kafka_port, controller_port = free_port(host), free_port(host)
    api_key = secrets.token_urlsafe(24)
    keys = {"soak": {"role": "admin", "sha256": hashlib.sha256(api_key.encode()).hexdigest()}}
    overrides = {
        "OFFLOAD__RUNTIME__DATA_DIR": str(root),
        "OFFLOAD__KAFKA__BOOTSTRAP_SERVERS": f"{host}:{kafka_port}",
        "OFFLOAD__KAFKA__SECURITY_PROTOCOL": "PLAINTEXT",
        "OFFLOAD__KAFKA__TOPIC_PREFIX": "soak",
        "OFFLOAD__KAFKA__LOCAL__PORT": str(kafka_port),
        "OFFLOAD__KAFKA__LOCAL__CONTROLLER_PORT": str(controller_port),
        "OFFLOAD__KAFKA__LOCAL__HEAP_MB": "512",
        "OFFLOAD__API__PORT": str(free_port(base.api.host)),
        "OFFLOAD__API__WORKERS": "2",
        "OFFLOAD__API__KEYS": json.dumps(keys),
        "OFFLOAD__REFERENCE__JOBS": json.dumps(jobs),
        "OFFLOAD__REFERENCE__TRANSACTION_TIMEOUT_S": "30",
        "OFFLOAD__RUN__RESTART_BACKOFF_INITIAL_S": "0.2",
        "OFFLOAD__RUN__RESTART_BACKOFF_MAX_S": "2",
        "OFFLOAD__RUN__STABLE_AFTER_S": "5",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFLOAD__")} | overrides
    settings = load_settings(config_path, env=env)
    _reuse_classpath(base, settings)
    return SoakDeployment(settings, env, config_path, extract, base_extract, api_key)


def _reuse_classpath(base: Settings, soak: Settings) -> None:
    """Copy the user's resolved Kafka classpath, if any, so the soak's broker skips Maven."""
    name = f"classpath-{soak.kafka.local.version}.txt"
    cached = base.kafka_dir / name
    if cached.is_file() and base.kafka.local.version == soak.kafka.local.version:
        soak.kafka_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, soak.kafka_dir / name)


class ExtractWriter:
    """Writes successive versions of the chaotic extract: the original rows, plus synthetic
    ports whose presence and names change with each version (seeded, so repeatable)."""

    def __init__(self, deployment: SoakDeployment, seed: int) -> None:
        self._target = deployment.extract
        self._seed = seed
        self.version = 0
        with deployment.base_extract.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        self._header, self._rows = rows[0], rows[1:]

    def write_next(self) -> None:
        """Write the next version atomically (a load never reads a half-written file)."""
        self.version += 1
        rng = random.Random(f"{self._seed}:{self.version}")
        rows = list(self._rows)
        for n in range(SYNTHETIC_PORTS):
            if rng.random() < 0.9:
                name = f"Soak port {n} v{self.version if rng.random() < 0.3 else 0}"
                rows.append([f"Z{n:04d}", name, "ZZ", "UTC"])
        self._target.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._target.with_suffix(".tmp")
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(self._header)
            writer.writerows(rows)
        tmp.replace(self._target)
