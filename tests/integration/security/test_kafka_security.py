"""The gateway over Kafka with SCRAM-SHA-512 over TLS and ACLs, and its query API over HTTPS.

One SASL_SSL broker for the module (`secure_broker` in this folder's conftest). Proven here:
capture, projections, the reference loader and the query API (its registry endpoints and a
read of a reference mirror, over HTTPS) work end to end as the gateway's user; a wrong
password and an untrusted CA stop a part within seconds with exit 3 and a message naming the
listener; another user is refused by the ACLs; the password appears in no log, no state file
and not in `offload status` (every file of the run, the broker's data and log included, is
scanned for it).
"""

from __future__ import annotations

import json
import ssl
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from config import KafkaSettings, Settings
from projections.status import STATUS_FILE
from query_api.auth import hash_key
from simulators.sor import SystemOfRecord

from .conftest import GATEWAY_USER, INTRUDER_USER, SecureBroker, free_port

READER = f"reader-{uuid.uuid4().hex}"
ANALYST = f"analyst-{uuid.uuid4().hex}"
KEYS = {
    "reader": {"role": "reader", "sha256": hash_key(READER)},
    "analyst": {"role": "analyst", "sha256": hash_key(ANALYST)},
}
REPO = Path(__file__).resolve().parents[3]
REFUSAL_S = 30.0
"""A refused login must stop a part well before librdkafka's 30-60 s request timeouts."""


def _ok(done: Any) -> str:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return str(done.stdout)


def _eventually(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def _mirrors_equal_source(settings: Settings) -> bool:
    with SystemOfRecord.open(settings.sor_path) as sor:
        source = {
            table.lower(): int(sor.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table in sorted(sor.captured_tables())
        }
    try:
        status = json.loads((settings.projections_path.parent / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return False
    mirrors = {k: int(v) for k, v in status.get("mirrors", {}).items()}
    return sum(source.values()) > 0 and all(mirrors.get(t) == n for t, n in source.items())


def _files_holding(roots: list[Path], secret: str) -> tuple[list[Path], int]:
    """The files under `roots` whose bytes contain `secret`, and how many files were read."""
    needle, found, read = secret.encode(), [], 0
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            read += 1
            if needle in path.read_bytes():
                found.append(path)
    return found, read


def _listener(broker: SecureBroker) -> str:
    return f"SASL_SSL://{broker.env['OFFLOAD__KAFKA__BOOTSTRAP_SERVERS']}"


@pytest.mark.kafka
def test_gateway_end_to_end_over_sasl_ssl_and_https_without_leaking_the_password(
    secure_broker: SecureBroker,
    run_offload: Any,
    start_offload: Callable[..., subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    b = secure_broker
    port = free_port()
    s = b.settings_with(
        tmp_path / "data",
        **{
            "api.port": str(port),
            "api.workers": "1",
            "api.keys": json.dumps(KEYS),
            "api.tls_cert_file": str(b.tls.cert),
            "api.tls_key_file": str(b.tls.key),
            "runtime.log_level": "DEBUG",
        },
    )
    secret = {"OFFLOAD__KAFKA__SASL_PASSWORD": b.password}
    outputs = [_ok(run_offload(s, "kafka", "up", env=secret))]
    assert "nothing to start" in outputs[0]
    outputs.append(_ok(run_offload(s, "sor", "init", env=secret)))
    outputs.append(
        _ok(run_offload(s, "simulate", "--transactions", "40", "--seed", "7", env=secret))
    )
    outputs.append(_ok(run_offload(s, "reference", "load", env=secret)))
    start_offload(s, "run", env=secret)
    ca = ssl.create_default_context(cafile=str(b.tls.ca))
    with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=ca, timeout=30) as api:
        _eventually(lambda: api.get("/readyz").status_code == 200, 180, "the API is ready")
        _eventually(lambda: _mirrors_equal_source(s), 180, "every mirror holds its table's rows")
        vessels = api.post(
            "/sql",
            json={"sql": "SELECT COUNT(*) AS n FROM reference.vessels", "params": []},
            headers={"X-API-Key": ANALYST},
        )
        assert vessels.status_code == 200, vessels.text
        lines = (REPO / "config" / "reference" / "vessels.jsonl").read_text().splitlines()
        assert vessels.json()["rows"] == [{"n": len([x for x in lines if x.strip()])}]
        reader = {"X-API-Key": READER}
        subjects = api.get("/subjects", headers=reader)
        assert subjects.status_code == 200, subjects.text
        orders = f"{s.kafka.topic_prefix}.shipping.orders-value"
        assert orders in subjects.json(), subjects.text
        latest = api.get(f"/subjects/{orders}/versions/latest", headers=reader).json()
        by_id = api.get(f"/schemas/ids/{latest['id']}", headers=reader)
        assert by_id.status_code == 200 and json.loads(by_id.json()["schema"])["type"] == "record"
    with pytest.raises(httpx.HTTPError):  # the port speaks TLS only
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    status = run_offload(s, "status", "--json", env=secret)
    assert status.returncode == 0, status.stdout + status.stderr
    parts = json.loads(status.stdout)["parts"]
    assert parts and all(p["state"] == "running" and p["restarts"] == 0 for p in parts.values())
    outputs += [status.stdout, status.stderr, _ok(run_offload(s, "config", "show", env=secret))]
    assert not [o for o in outputs if b.password in o]
    leaked, read = _files_holding([tmp_path, b.broker_dir / "kafka"], b.password)
    assert leaked == []
    assert read >= 10  # logs of the run and its parts, the broker's log and data were read
    debug_lines = sum(p.read_text(errors="replace").count("DEBUG") for p in tmp_path.rglob("*.log"))
    assert debug_lines > 0  # the scanned logs were written at DEBUG, the most talkative level


@pytest.mark.kafka
@pytest.mark.parametrize("command", [("cdc", "run"), ("project", "run"), ("kafka", "status")])
def test_a_wrong_password_stops_with_exit_3_naming_the_listener(
    secure_broker: SecureBroker, run_offload: Any, tmp_path: Path, command: tuple[str, ...]
) -> None:
    s = secure_broker.settings_with(tmp_path / "data")
    _ok(run_offload(s, "sor", "init"))
    began = time.monotonic()
    wrong = {"OFFLOAD__KAFKA__SASL_PASSWORD": f"wrong-{uuid.uuid4().hex}"}
    done = run_offload(s, *command, env=wrong)
    elapsed = time.monotonic() - began
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"Kafka listener {_listener(secure_broker)}" in done.stderr, done.stderr
    assert "SASL authentication" in done.stderr and "invalid credentials" in done.stderr
    assert f"user '{GATEWAY_USER}'" in done.stderr
    assert elapsed < REFUSAL_S, f"took {elapsed:.1f} s"


@pytest.mark.kafka
def test_an_untrusted_broker_certificate_stops_with_exit_3_naming_the_listener(
    secure_broker: SecureBroker, run_offload: Any, tmp_path: Path
) -> None:
    b = secure_broker
    s = b.settings_with(tmp_path / "data", **{"kafka.ssl_ca_location": str(b.untrusted_ca)})
    _ok(run_offload(s, "sor", "init"))
    began = time.monotonic()
    done = run_offload(s, "cdc", "run", env={"OFFLOAD__KAFKA__SASL_PASSWORD": b.password})
    elapsed = time.monotonic() - began
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"Kafka listener {_listener(b)}: the TLS handshake failed" in done.stderr
    assert "certificate verify failed" in done.stderr
    assert elapsed < REFUSAL_S, f"took {elapsed:.1f} s"


def _client(broker: SecureBroker, user: str, password: str) -> dict[str, Any]:
    kafka = KafkaSettings(
        bootstrap_servers=broker.env["OFFLOAD__KAFKA__BOOTSTRAP_SERVERS"],
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username=user,
        ssl_ca_location=broker.tls.ca,
    )
    return {**kafka.client_config(), "sasl.password": password}


def _produce(conf: dict[str, Any], topic: str) -> KafkaError | None:
    errors: list[KafkaError | None] = []
    producer = Producer(conf)
    producer.produce(topic, b"probe", on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(30)
    assert len(errors) == 1
    return errors[0]


def _fetch_error(conf: dict[str, Any], topic: str) -> int | None:
    """The error code of reading `topic`'s partition 0 from the start (None: a record)."""
    consumer = Consumer({**conf, "group.id": f"offload-acl-{uuid.uuid4().hex}"})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            error = message.error()
            return None if error is None else int(error.code())
        raise AssertionError(f"neither a record nor an error from {topic} in 30 s")
    finally:
        consumer.close()


def _metadata_error(conf: dict[str, Any], topic: str) -> int | None:
    """The error code the broker gives for `topic` in a metadata answer (None: no error)."""
    error = AdminClient(conf).list_topics(topic=topic, timeout=30).topics[topic].error
    return None if error is None else int(error.code())


@pytest.mark.kafka
def test_the_acls_allow_the_gateway_user_and_refuse_another(secure_broker: SecureBroker) -> None:
    from plumbing.kafka_errors import TopicAccessDenied
    from plumbing.topics import ensure_topic

    b = secure_broker
    gateway = b.settings_with(b.broker_dir).kafka
    topic = gateway.topic("acl", uuid.uuid4().hex[:8])
    ensure_topic(gateway, topic, 1)
    allowed = _client(b, GATEWAY_USER, b.password)
    refused = _client(b, INTRUDER_USER, b.intruder_password)
    assert _produce(allowed, topic) is None
    assert _fetch_error(allowed, topic) is None
    denied = KafkaError.TOPIC_AUTHORIZATION_FAILED
    produced = _produce(refused, topic)
    assert produced is not None and produced.code() == denied, produced
    # The intruder's consumer group is refused first (only the gateway owns groups offload-*),
    # and a metadata request for the topic is refused too.
    assert _fetch_error(refused, topic) == KafkaError.GROUP_AUTHORIZATION_FAILED
    assert _metadata_error(allowed, topic) is None
    assert _metadata_error(refused, topic) == denied
    intruder = KafkaSettings.model_validate(
        {
            **gateway.model_dump(),
            "sasl_username": INTRUDER_USER,
            "sasl_password": b.intruder_password,
        }
    )
    refusal = f"refuses user '{INTRUDER_USER}' topic .*Topic authorization failed"
    with pytest.raises(TopicAccessDenied, match=refusal):
        ensure_topic(intruder, gateway.topic("acl", "intruder", uuid.uuid4().hex[:8]), 1)
