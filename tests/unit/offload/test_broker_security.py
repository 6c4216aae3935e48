"""The settings, files and checks of a "sasl_ssl" local broker, with no Java around."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import AclOperation, ResourcePatternType, ResourceType

from config import ConfigError, KafkaSettings, LocalKafkaSettings, Settings, load_settings
from offload.broker_config import BROKER_PRINCIPAL, BrokerLayout, server_properties
from offload.broker_security import check_settings, gateway_acls, write_keystore
from plumbing.kafka_errors import BrokerSecurityMisconfigured, KafkaAuthFailed
from plumbing.kafka_probe import AuthWatch

DEFAULT_TOML = Path(__file__).resolve().parents[3] / "config" / "offload.toml"


def _pem_files(tmp_path: Path) -> dict[str, Path]:
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    for name, path in files.items():
        path.write_text(f"-----BEGIN {name.upper()}-----\n{name}\n-----END {name.upper()}-----\n")
    return files


def _secure_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    files = _pem_files(tmp_path)
    return {
        "OFFLOAD__RUNTIME__DATA_DIR": str(tmp_path / "data"),
        "OFFLOAD__KAFKA__LOCAL__SECURITY": "sasl_ssl",
        "OFFLOAD__KAFKA__LOCAL__TLS_CERT_FILE": str(files["cert"]),
        "OFFLOAD__KAFKA__LOCAL__TLS_KEY_FILE": str(files["key"]),
        "OFFLOAD__KAFKA__SSL_CA_LOCATION": str(files["ca"]),
        "OFFLOAD__KAFKA__SASL_USERNAME": "gateway",
        "OFFLOAD__KAFKA__SASL_PASSWORD": "pw-unit",
        **extra,
    }


def test_secure_listeners_scram_for_clients_tls_certificates_for_the_broker(
    tmp_path: Path,
) -> None:
    layout = BrokerLayout(tmp_path / "kafka")
    local = LocalKafkaSettings(
        port=29092,
        controller_port=29093,
        internal_port=29094,
        security="sasl_ssl",
        tls_cert_file=tmp_path / "cert.pem",
        tls_key_file=tmp_path / "key.pem",
    )

    props = server_properties(local, layout, tmp_path / "ca.pem")

    assert props["listeners"] == (
        "SASL_SSL://127.0.0.1:29092,INTERNAL://127.0.0.1:29094,CONTROLLER://127.0.0.1:29093"
    )
    assert props["advertised.listeners"] == "SASL_SSL://127.0.0.1:29092,INTERNAL://127.0.0.1:29094"
    assert props["listener.security.protocol.map"] == (
        "SASL_SSL:SASL_SSL,INTERNAL:SSL,CONTROLLER:SSL"
    )
    assert props["inter.broker.listener.name"] == "INTERNAL"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["listener.name.internal.ssl.client.auth"] == "required"
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert props["ssl.keystore.location"] == str(layout.keystore_pem)
    assert props["ssl.truststore.location"] == str(tmp_path / "ca.pem")
    assert props["super.users"] == f"User:{BROKER_PRINCIPAL}"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    # The plaintext broker has none of it.
    plain = server_properties(LocalKafkaSettings(), layout)
    assert "super.users" not in plain and "SASL" not in plain["listeners"]


def test_sasl_ssl_broker_needs_its_certificate_and_key() -> None:
    with pytest.raises(ValueError, match="tls_cert_file and tls_key_file"):
        LocalKafkaSettings(security="sasl_ssl")


def test_sasl_ssl_broker_needs_a_ca(tmp_path: Path) -> None:
    local = LocalKafkaSettings(
        security="sasl_ssl", tls_cert_file=tmp_path / "c", tls_key_file=tmp_path / "k"
    )
    with pytest.raises(ValueError, match=r"kafka\.ssl_ca_location"):
        server_properties(local, BrokerLayout(tmp_path))


@pytest.mark.parametrize(
    ("drop", "key"),
    [
        ("OFFLOAD__KAFKA__SSL_CA_LOCATION", "kafka.ssl_ca_location"),
        ("OFFLOAD__KAFKA__SASL_USERNAME", "kafka.sasl_username"),
        ("OFFLOAD__KAFKA__SASL_PASSWORD", "OFFLOAD__KAFKA__SASL_PASSWORD"),
    ],
)
def test_check_settings_names_what_is_missing(tmp_path: Path, drop: str, key: str) -> None:
    env = _secure_env(tmp_path)
    del env[drop]
    settings = load_settings(DEFAULT_TOML, env=env)
    with pytest.raises(BrokerSecurityMisconfigured) as err:
        check_settings(settings)
    assert str(err.value).startswith(f'kafka.local.security "sasl_ssl": {key} ')
    assert err.value.exit_code == 2


def test_check_settings_names_an_unreadable_file(tmp_path: Path) -> None:
    env = _secure_env(tmp_path, OFFLOAD__KAFKA__LOCAL__TLS_KEY_FILE=str(tmp_path / "nope.pem"))
    with pytest.raises(BrokerSecurityMisconfigured, match=r"tls_key_file names .*nope\.pem"):
        check_settings(load_settings(DEFAULT_TOML, env=env))


def test_keystore_holds_key_then_certificate_readable_only_by_its_owner(tmp_path: Path) -> None:
    settings = load_settings(DEFAULT_TOML, env=_secure_env(tmp_path))
    check_settings(settings)
    layout = BrokerLayout(settings.kafka_dir)

    write_keystore(settings, layout)

    text = layout.keystore_pem.read_text()
    assert text.index("BEGIN KEY") < text.index("BEGIN CERT")
    assert layout.keystore_pem.stat().st_mode & 0o777 == 0o600


def test_gateway_acls_cover_only_its_prefix() -> None:
    kafka = KafkaSettings(topic_prefix="acme", sasl_username="gateway")

    acls = gateway_acls(kafka)

    assert {a.principal for a in acls} == {"User:gateway"}
    named = {(a.restype, a.name, a.resource_pattern_type) for a in acls}
    prefixed = ResourcePatternType.PREFIXED
    assert (ResourceType.TOPIC, "acme.", prefixed) in named
    assert (ResourceType.TRANSACTIONAL_ID, "acme.", prefixed) in named
    cluster = [a for a in acls if a.restype == ResourceType.BROKER]
    assert [a.operation for a in cluster] == [AclOperation.IDEMPOTENT_WRITE]


def test_client_config_with_a_client_certificate(tmp_path: Path) -> None:
    kafka = KafkaSettings(
        security_protocol="SSL",
        ssl_ca_location=tmp_path / "ca.pem",
        ssl_certificate_location=tmp_path / "c.pem",
        ssl_key_location=tmp_path / "k.pem",
    )
    conf = kafka.client_config()
    assert conf["ssl.certificate.location"] == str(tmp_path / "c.pem")
    assert conf["ssl.key.location"] == str(tmp_path / "k.pem")
    with pytest.raises(ValueError, match="ssl_certificate_location and ssl_key_location"):
        KafkaSettings(ssl_certificate_location=tmp_path / "c.pem")


@pytest.mark.parametrize("given", ["TLS_CERT_FILE", "TLS_KEY_FILE"])
def test_api_https_needs_certificate_and_key(tmp_path: Path, given: str) -> None:
    env = {f"OFFLOAD__API__{given}": str(tmp_path / "x.pem")}
    with pytest.raises(ConfigError, match="tls_cert_file and tls_key_file"):
        load_settings(DEFAULT_TOML, env=env)


def test_api_scheme_follows_the_certificate(tmp_path: Path) -> None:
    assert load_settings(DEFAULT_TOML, env={}).api.scheme == "http"
    env = {
        "OFFLOAD__API__TLS_CERT_FILE": str(tmp_path / "c.pem"),
        "OFFLOAD__API__TLS_KEY_FILE": str(tmp_path / "k.pem"),
    }
    settings: Settings = load_settings(DEFAULT_TOML, env=env)
    assert settings.api.scheme == "https"


@pytest.mark.parametrize(
    ("code", "what", "check"),
    [
        (KafkaError._AUTHENTICATION, "SASL authentication of user 'gw'", "SASL_PASSWORD"),
        (KafkaError._SSL, "the TLS handshake", "kafka.ssl_ca_location"),
    ],
)
def test_auth_watch_names_the_listener(code: int, what: str, check: str) -> None:
    kafka = KafkaSettings(
        bootstrap_servers="h:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="gw",
    )
    watch = AuthWatch(kafka)
    watch(KafkaError(KafkaError._TRANSPORT, "connection refused"))
    watch.raise_if_failed()  # a transport error is not a refusal: a retry may help
    watch(KafkaError(code, "the broker said no"))

    with pytest.raises(KafkaAuthFailed) as err:
        watch.raise_if_failed()

    message = str(err.value)
    assert message.startswith(f"Kafka listener SASL_SSL://h:9093: {what}")
    assert "the broker said no" in message and check in message
    assert err.value.exit_code == 3
