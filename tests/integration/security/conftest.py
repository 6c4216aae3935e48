"""A SASL_SSL local broker of the security tests' own, with certificates made for it.

The module-scoped `secure_broker` starts `offload kafka up` with
`kafka.local.security = "sasl_ssl"` on free ports and a data dir under pytest's tmp dir
(never the session broker on 19192): SCRAM-SHA-512 over TLS for clients, ACLs that allow
only the gateway's user `gateway` on its topic prefix. It also creates a second SCRAM user,
`intruder`, that the ACLs allow nothing. Certificates: a CA and a server certificate
(127.0.0.1, localhost) for the broker and the query API's HTTPS, and a second, untrusted CA.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from config import Settings, load_settings

REPO = Path(__file__).resolve().parents[3]
CONFIG_FILE = REPO / "config" / "offload.toml"
SESSION_BROKER_DIR = REPO / ".offload-test" / "kafka"
GATEWAY_USER = "gateway"
INTRUDER_USER = "intruder"


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of one CA and the server certificate it signed."""

    ca: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class SecureBroker:
    """The running SASL_SSL broker and what the tests need to reach it."""

    env: dict[str, str]
    """OFFLOAD__ variables of the broker and the gateway's client settings, minus the
    password and the data dir."""
    password: str
    """The gateway user's password (OFFLOAD__KAFKA__SASL_PASSWORD)."""
    intruder_password: str
    """The password of `intruder`, a user with no ACLs."""
    tls: TlsFiles
    """The CA that signed the broker's certificate, the certificate and its key."""
    untrusted_ca: Path
    """A CA that signed nothing the broker presents."""
    broker_dir: Path
    """The data dir the broker was started from (its log is in `kafka/logs`)."""

    def settings_with(self, data_dir: Path, **overrides: str) -> Settings:
        """Settings of a gateway on this broker, in `data_dir`, with dotted-key overrides."""
        return load_settings(CONFIG_FILE, env=self.env_with(data_dir, **overrides))

    def env_with(self, data_dir: Path, **overrides: str) -> dict[str, str]:
        """The OFFLOAD__ variables of `settings_with`, the password included."""
        env = dict(self.env)
        env["OFFLOAD__RUNTIME__DATA_DIR"] = str(data_dir)
        env["OFFLOAD__KAFKA__SASL_PASSWORD"] = self.password
        for key, value in overrides.items():
            env["OFFLOAD__" + "__".join(p.upper() for p in key.split("."))] = value
        return env


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(
    label: str, valid: tuple[datetime.datetime, datetime.datetime]
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"offload test CA {label}")
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_tls_files(directory: Path, label: str) -> TlsFiles:
    """Write `<label>-ca.pem`, and `<label>-cert.pem` / `<label>-key.pem` (unencrypted
    PKCS#8) of a certificate for 127.0.0.1 and localhost, good for servers and clients."""
    now = datetime.datetime.now(datetime.UTC)
    valid = (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=2))
    ca_key, ca = _ca(label, valid)
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    )
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"offload {label} server"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(san, critical=False)
        .add_extension(eku, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(
        directory / f"{label}-ca.pem",
        directory / f"{label}-cert.pem",
        directory / f"{label}-key.pem",
    )
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pkcs8 = serialization.PrivateFormat.PKCS8
    plain = serialization.NoEncryption()
    files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, pkcs8, plain))
    files.key.chmod(0o600)
    return files


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _add_intruder(settings: Settings, password: str) -> None:
    from offload.broker_security import SCRAM_ITERATIONS, internal_client_settings
    from plumbing.topics import admin_client

    admin = admin_client(internal_client_settings(settings))
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    upsert = UserScramCredentialUpsertion(INTRUDER_USER, info, password.encode())
    for future in admin.alter_user_scram_credentials([upsert], request_timeout=30).values():
        future.result()


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    """A SASL_SSL broker with ACLs for this module; stopped (by its pid) at the end."""
    from offload.broker import down, up
    from offload.broker_config import BrokerLayout

    root = tmp_path_factory.mktemp("secure-broker")
    tls = make_tls_files(root, "trusted")
    untrusted = make_tls_files(root, "untrusted")
    port = free_port()
    env = {
        "OFFLOAD__KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
        "OFFLOAD__KAFKA__TOPIC_PREFIX": f"sec-{uuid.uuid4().hex[:10]}",
        "OFFLOAD__KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
        "OFFLOAD__KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
        "OFFLOAD__KAFKA__SASL_USERNAME": GATEWAY_USER,
        "OFFLOAD__KAFKA__SSL_CA_LOCATION": str(tls.ca),
        "OFFLOAD__KAFKA__LOCAL__SECURITY": "sasl_ssl",
        "OFFLOAD__KAFKA__LOCAL__PORT": str(port),
        "OFFLOAD__KAFKA__LOCAL__CONTROLLER_PORT": str(free_port()),
        "OFFLOAD__KAFKA__LOCAL__INTERNAL_PORT": str(free_port()),
        "OFFLOAD__KAFKA__LOCAL__TLS_CERT_FILE": str(tls.cert),
        "OFFLOAD__KAFKA__LOCAL__TLS_KEY_FILE": str(tls.key),
        "OFFLOAD__KAFKA__LOCAL__HEAP_MB": "512",
    }
    broker = SecureBroker(
        env=env,
        password=f"pw-{uuid.uuid4().hex}",
        intruder_password=f"ipw-{uuid.uuid4().hex}",
        tls=tls,
        untrusted_ca=untrusted.ca,
        broker_dir=root / "broker",
    )
    settings = broker.settings_with(broker.broker_dir)
    # The session broker's classpath spares a Maven run (the jars are in ~/.m2 either way).
    version = settings.kafka.local.version
    cached = BrokerLayout(SESSION_BROKER_DIR).classpath_file(version)
    if cached.is_file():
        settings.kafka_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(cached, BrokerLayout(settings.kafka_dir).classpath_file(version))
    try:
        up(settings)
        _add_intruder(settings, broker.intruder_password)
        yield broker
    finally:
        down(settings)
