"""The files and command line of the local single-node Kafka broker, as pure functions.

Everything here is computed from the settings and the broker's directory; nothing is
written or started (see `offload.broker` for that), so it is testable with no Java around.

Layout of the broker directory (`settings.kafka_dir`):

    server.properties    broker config (KRaft combined mode, one node)
    log4j2.properties    logging config: the broker log goes to logs/server.log
    data/                log.dirs: topic data and the KRaft metadata log
    logs/server.log      the broker's log
    broker.out           the JVM's stdout and stderr (start-up failures land here)
    broker.pid           pid of the broker `offload kafka up` started
    tls/keystore.pem     with kafka.local.security = "sasl_ssl": the broker's key and
                         certificate in one file (mode 0600), its PEM keystore
    classpath-<v>.txt    the jars Maven resolved for Kafka <v> (the jars stay in ~/.m2)
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from config import LocalKafkaSettings

MIN_JAVA = 17

BROKER_PRINCIPAL = "offload-broker"
"""The principal of the broker's own TLS connections (inter-broker, controller): a super user."""
SCRAM_MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class BrokerLayout:
    """Where the local broker keeps its files."""

    root: Path
    """The broker directory, `settings.kafka_dir`."""

    @property
    def server_properties(self) -> Path:
        """The broker config file."""
        return self.root / "server.properties"

    @property
    def log4j2_properties(self) -> Path:
        """The logging config file."""
        return self.root / "log4j2.properties"

    @property
    def data_dir(self) -> Path:
        """log.dirs: topic data and the metadata log."""
        return self.root / "data"

    @property
    def meta_properties(self) -> Path:
        """Written by the storage format; its presence means the data dir is formatted."""
        return self.data_dir / "meta.properties"

    @property
    def logs_dir(self) -> Path:
        """The broker's own log files."""
        return self.root / "logs"

    @property
    def server_log(self) -> Path:
        """The broker's main log file."""
        return self.logs_dir / "server.log"

    @property
    def console_log(self) -> Path:
        """The JVM's stdout and stderr."""
        return self.root / "broker.out"

    @property
    def pid_file(self) -> Path:
        """Pid of the broker this directory's `kafka up` started."""
        return self.root / "broker.pid"

    @property
    def keystore_pem(self) -> Path:
        """A "sasl_ssl" broker's private key and certificate chain, its PEM keystore."""
        return self.root / "tls" / "keystore.pem"

    def classpath_file(self, version: str) -> Path:
        """The cached classpath of Kafka `version`."""
        return self.root / f"classpath-{version}.txt"


def server_properties(
    local: LocalKafkaSettings, layout: BrokerLayout, ca_file: Path | None = None
) -> dict[str, str]:
    """The broker config: one node, KRaft combined mode, transactions usable on one node.

    Sized for a small machine (2 cores): few network and I/O threads, fewer partitions for
    the internal offsets and transaction-state topics, moderate segments. With
    `local.security` "sasl_ssl" the listeners are secured (see `secure_listeners`) and
    `ca_file` (kafka.ssl_ca_location) is the trust store.
    """
    props = _base_properties(local, layout)
    if local.security == "sasl_ssl":
        if ca_file is None:
            raise ValueError('kafka.local.security "sasl_ssl" needs kafka.ssl_ca_location')
        props |= secure_listeners(local, layout, ca_file)
    return props


def secure_listeners(
    local: LocalKafkaSettings, layout: BrokerLayout, ca_file: Path
) -> dict[str, str]:
    """Listeners of a "sasl_ssl" broker, its TLS stores and its authorizer.

    Clients log in with SCRAM-SHA-512 over TLS on `local.port`. The broker's own connections
    (inter-broker on `internal_port`, KRaft on `controller_port`) are TLS with a client
    certificate signed by the CA, mapped to the super user `BROKER_PRINCIPAL`: SCRAM cannot
    serve the controller (its credentials live in the metadata the controller serves), and
    no broker password has to be written anywhere. Every other principal gets only what an
    ACL allows.
    """
    client = f"{local.host}:{local.port}"
    internal = f"{local.host}:{local.internal_port}"
    controller = f"{local.host}:{local.controller_port}"
    return {
        "listeners": f"SASL_SSL://{client},INTERNAL://{internal},CONTROLLER://{controller}",
        "advertised.listeners": f"SASL_SSL://{client},INTERNAL://{internal}",
        "inter.broker.listener.name": "INTERNAL",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,INTERNAL:SSL,CONTROLLER:SSL",
        "sasl.enabled.mechanisms": SCRAM_MECHANISM,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(layout.keystore_pem),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(ca_file),
        "listener.name.internal.ssl.client.auth": "required",
        "listener.name.controller.ssl.client.auth": "required",
        "ssl.principal.mapping.rules": f"RULE:^.*$/{BROKER_PRINCIPAL}/",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{BROKER_PRINCIPAL}",
        "allow.everyone.if.no.acl.found": "false",
    }


def _base_properties(local: LocalKafkaSettings, layout: BrokerLayout) -> dict[str, str]:
    client = f"{local.host}:{local.port}"
    controller = f"{local.host}:{local.controller_port}"
    return {
        "process.roles": "broker,controller",
        "node.id": "1",
        # A dynamic quorum (formatted with --standalone) names its bootstrap server, not voters.
        "controller.quorum.bootstrap.servers": controller,
        "listeners": f"PLAINTEXT://{client},CONTROLLER://{controller}",
        "advertised.listeners": f"PLAINTEXT://{client}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(layout.data_dir),
        "auto.create.topics.enable": "false",
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "10",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Snapshots and large units of work can keep a transaction open for a long time.
        "transaction.max.timeout.ms": "3600000",
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2",
        "num.io.threads": "4",
        "background.threads": "4",
        "num.recovery.threads.per.data.dir": "1",
        "log.cleaner.threads": "1",
        "log.cleaner.dedupe.buffer.size": str(32 * 1024 * 1024),
        "log.segment.bytes": str(64 * 1024 * 1024),
        "log.retention.check.interval.ms": "300000",
    }


def log4j2_properties(layout: BrokerLayout) -> dict[str, str]:
    """Logging config: INFO to a size-rolled logs/server.log, nothing on the console."""
    log = str(layout.server_log)
    return {
        "status": "warn",
        "name": "offload-local-kafka",
        "appender.file.type": "RollingFile",
        "appender.file.name": "file",
        "appender.file.fileName": log,
        "appender.file.filePattern": f"{log}.%i",
        "appender.file.layout.type": "PatternLayout",
        "appender.file.layout.pattern": "[%d] %p %m (%c)%n",
        "appender.file.policies.type": "Policies",
        "appender.file.policies.size.type": "SizeBasedTriggeringPolicy",
        "appender.file.policies.size.size": "20MB",
        "appender.file.strategy.type": "DefaultRolloverStrategy",
        "appender.file.strategy.max": "3",
        "rootLogger.level": "INFO",
        "rootLogger.appenderRef.file.ref": "file",
        "logger.state.name": "state.change.logger",
        "logger.state.level": "WARN",
        "logger.request.name": "kafka.request.logger",
        "logger.request.level": "WARN",
    }


def render_properties(props: dict[str, str], comment: str) -> str:
    """A Java properties file: a comment line, then `key=value` lines in the given order."""
    lines = [f"# {comment}"]
    lines += [f"{key}={value.replace(chr(92), chr(92) * 2)}" for key, value in props.items()]
    return "\n".join(lines) + "\n"


def java_command(
    java: str, classpath: str, heap_mb: int, layout: BrokerLayout, main: list[str]
) -> list[str]:
    """The command line that runs `main` (class and arguments) on Kafka's classpath."""
    return [
        java,
        f"-Xms{heap_mb}m",
        f"-Xmx{heap_mb}m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:InitiatingHeapOccupancyPercent=35",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={layout.log4j2_properties}",
        f"-Dkafka.logs.dir={layout.logs_dir}",
        "-cp",
        classpath,
        *main,
    ]


def new_cluster_id() -> str:
    """A random KRaft cluster id: 16 random bytes, URL-safe base64 without padding.

    Kafka's own `Uuid.randomUuid` never returns an id starting with '-' (it would read as a
    command-line option), so neither does this.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not text.startswith("-"):
            return text


_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


def java_major_version(version_output: str) -> int | None:
    """The major Java version in `java -version` output ("1.8.0_392" → 8, "17.0.15" → 17)."""
    match = _JAVA_VERSION.search(version_output)
    if match is None:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2) is not None:
        return int(match.group(2))
    return major
