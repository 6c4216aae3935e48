"""The secured local broker ("sasl_ssl"): its checks, its keystore, its principal and ACLs.

`kafka up` with `kafka.local.security = "sasl_ssl"` checks the settings and files first,
writes the broker's PEM keystore (key and certificate in one file, mode 0600), and once the
broker answers (on its TLS-only internal listener, as the super user `BROKER_PRINCIPAL`)
creates or updates the SCRAM-SHA-512 credential of `kafka.sasl_username` with the password
of OFFLOAD__KAFKA__SASL_PASSWORD and the ACLs of that one principal. The password goes to the
broker over TLS, never to a command line or a file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from config import KafkaSettings, Settings
from offload.broker_config import SCRAM_MECHANISM, BrokerLayout
from plumbing.kafka_errors import BrokerProvisionFailed, BrokerSecurityMisconfigured
from plumbing.topics import admin_client

logger = logging.getLogger(__name__)

SCRAM_ITERATIONS = 8192
_TIMEOUT_S = 30.0


def secured(settings: Settings) -> bool:
    """Whether the local broker runs with SASL_SSL listeners and ACLs."""
    return settings.kafka.local.security == "sasl_ssl"


def check_settings(settings: Settings) -> None:
    """Check what a "sasl_ssl" broker needs: the TLS files and the gateway's credentials.

    Raises:
        BrokerSecurityMisconfigured: a setting is missing or a file cannot be read.
    """
    kafka, local = settings.kafka, settings.kafka.local
    files = {
        "kafka.local.tls_cert_file": local.tls_cert_file,
        "kafka.local.tls_key_file": local.tls_key_file,
        "kafka.ssl_ca_location": kafka.ssl_ca_location,
    }
    for key, path in files.items():
        if path is None:
            raise BrokerSecurityMisconfigured(key, "must be set (a PEM file)")
        if not os.access(path, os.R_OK) or not Path(path).is_file():
            raise BrokerSecurityMisconfigured(key, f"names {path}, which is not a readable file")
    if not kafka.sasl_username:
        raise BrokerSecurityMisconfigured("kafka.sasl_username", "must name the gateway's user")
    if kafka.sasl_password is None or not kafka.sasl_password.get_secret_value():
        raise BrokerSecurityMisconfigured(
            "OFFLOAD__KAFKA__SASL_PASSWORD", "must hold the gateway user's password"
        )


def write_keystore(settings: Settings, layout: BrokerLayout) -> None:
    """Write the broker's PEM keystore: its private key, then its certificate chain (0600)."""
    local = settings.kafka.local
    if local.tls_cert_file is None or local.tls_key_file is None:  # the settings refuse it
        raise BrokerSecurityMisconfigured("kafka.local.tls_cert_file", "must be set (a PEM file)")
    key = Path(local.tls_key_file).read_text(encoding="ascii")
    chain = Path(local.tls_cert_file).read_text(encoding="ascii")
    target = layout.keystore_pem
    target.parent.mkdir(parents=True, exist_ok=True)
    target.parent.chmod(0o700)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key.rstrip("\n") + "\n" + chain.rstrip("\n") + "\n")
    target.chmod(0o600)


def internal_client_settings(settings: Settings) -> KafkaSettings:
    """Client settings of the broker's own principal: TLS with its certificate, internal port."""
    local, kafka = settings.kafka.local, settings.kafka
    return KafkaSettings(
        bootstrap_servers=f"{local.host}:{local.internal_port}",
        security_protocol="SSL",
        ssl_ca_location=kafka.ssl_ca_location,
        ssl_certificate_location=local.tls_cert_file,
        ssl_key_location=local.tls_key_file,
    )


def gateway_acls(kafka: KafkaSettings) -> list[AclBinding]:
    """What the gateway's principal may do, and nothing more.

    Its topics and transactional ids all start with `<topic_prefix>.`; its consumers' group
    ids with `<topic_prefix>.` or `offload-`; idempotent producers need IdempotentWrite.
    """
    principal = f"User:{kafka.sasl_username}"
    prefix = f"{kafka.topic_prefix}."

    def allow(kind: ResourceType, name: str, pattern: ResourcePatternType, op: Any) -> AclBinding:
        return AclBinding(kind, name, pattern, principal, "*", op, AclPermissionType.ALLOW)

    prefixed = ResourcePatternType.PREFIXED
    return [
        allow(ResourceType.TOPIC, prefix, prefixed, AclOperation.ALL),
        allow(ResourceType.TRANSACTIONAL_ID, prefix, prefixed, AclOperation.ALL),
        allow(ResourceType.GROUP, prefix, prefixed, AclOperation.ALL),
        allow(ResourceType.GROUP, "offload-", prefixed, AclOperation.ALL),
        allow(
            ResourceType.BROKER,
            "kafka-cluster",
            ResourcePatternType.LITERAL,
            AclOperation.IDEMPOTENT_WRITE,
        ),
    ]


def provision(settings: Settings) -> None:
    """Create or update the gateway's SCRAM credential and its ACLs (idempotent).

    Raises:
        BrokerProvisionFailed: the broker refused either.
    """
    check_settings(settings)
    kafka = settings.kafka
    if kafka.sasl_username is None or kafka.sasl_password is None:  # check_settings refused it
        raise BrokerSecurityMisconfigured("kafka.sasl_username", "must name the gateway's user")
    admin = admin_client(internal_client_settings(settings))
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    password = kafka.sasl_password.get_secret_value().encode("utf-8")
    upsert = UserScramCredentialUpsertion(kafka.sasl_username, info, password)
    what = f"the {SCRAM_MECHANISM} credential of user {kafka.sasl_username!r}"
    _wait_all(admin.alter_user_scram_credentials([upsert], request_timeout=_TIMEOUT_S), what)
    acls = gateway_acls(kafka)
    what = f"the ACLs of User:{kafka.sasl_username} (topics {kafka.topic_prefix}.*)"
    _wait_all(admin.create_acls(acls, request_timeout=_TIMEOUT_S), what)
    logger.info("local Kafka: user %s may use topics %s.*", kafka.sasl_username, kafka.topic_prefix)


def _wait_all(futures: Mapping[Any, Any], what: str) -> None:
    for future in futures.values():
        try:
            future.result()
        except KafkaException as exc:
            raise BrokerProvisionFailed(what, str(exc.args[0])) from exc
