"""Errors of Kafka: the cluster unreachable, the gateway's topics, the local broker.

`KafkaSetupError` is the base; each subclass marks with `Transient` or `Terminal` whether a
retry can help, and keeps the values its message names (tool, port, topic, ...) as attributes.
"""

from __future__ import annotations

from pathlib import Path

from plumbing.errors import EXIT_UNREACHABLE, EXIT_USAGE, OffloadError, Terminal, Transient


class KafkaSetupError(OffloadError):
    """Base of the errors about the local broker and the gateway's topics."""


class ToolMissing(KafkaSetupError, Terminal):
    """`java` or `mvn` is not on the PATH, or Java is older than 17."""

    exit_code = EXIT_USAGE

    def __init__(self, tool: str, detail: str) -> None:
        self.tool = tool
        self.detail = detail
        super().__init__(
            f"{tool} {detail}; the local Kafka needs Java 17+ and Maven on the PATH "
            "(or point kafka.bootstrap_servers at an existing cluster)"
        )


class JarResolutionFailed(KafkaSetupError, Transient):
    """Maven could not resolve the Kafka jars (no network, no Maven Central, bad version)."""

    exit_code = EXIT_UNREACHABLE

    def __init__(self, version: str, pom: Path, output: str) -> None:
        self.version = version
        self.pom = pom
        self.output = output
        super().__init__(
            f"Maven could not resolve Apache Kafka {version} with {pom} "
            f"(config key kafka.local.version); last Maven output:\n{output}"
        )


class PortInUse(KafkaSetupError, Terminal):
    """A port the local broker needs is held by something that does not answer as Kafka."""

    exit_code = EXIT_USAGE

    def __init__(self, host: str, port: int, key: str) -> None:
        self.host = host
        self.port = port
        self.key = key
        super().__init__(
            f"port {host}:{port} is in use by something that does not answer as a Kafka "
            f"broker; stop it or choose another port with {key}"
        )


class BrokerStartFailed(KafkaSetupError, Terminal):
    """The broker process exited, or did not answer in time; the message ends with its log."""

    def __init__(self, reason: str, log_file: Path, log_tail: str) -> None:
        self.reason = reason
        self.log_file = log_file
        self.log_tail = log_tail
        super().__init__(
            f"local Kafka did not start: {reason}; last lines of {log_file}:\n{log_tail}"
        )


class KafkaUnavailable(KafkaSetupError, Transient):
    """The Kafka cluster, or one of the gateway's topics on it, did not answer.

    The one "Kafka is unreachable" error of every part: retry loops catch it by type.

    Attributes:
        where: what was being done (the topic, or the operation and its topic).
        reason: the client's error.
    """

    exit_code = EXIT_UNREACHABLE

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"Kafka {where}: {reason}")


class BrokerUnreachable(KafkaUnavailable):
    """No broker answered metadata requests on the configured bootstrap servers."""

    def __init__(self, bootstrap_servers: str, timeout_s: float, detail: str = "") -> None:
        self.bootstrap_servers = bootstrap_servers
        self.timeout_s = timeout_s
        suffix = f" ({detail})" if detail else ""
        OffloadError.__init__(
            self,
            f"no Kafka broker answered at {bootstrap_servers} within {timeout_s:g} s{suffix}; "
            "start the local one with `offload kafka up` or check kafka.bootstrap_servers",
        )
        self.where = bootstrap_servers
        self.reason = f"no answer within {timeout_s:g} s{suffix}"


class TopicMismatch(KafkaSetupError, Terminal):
    """A topic exists but with fewer partitions or another cleanup.policy than required."""

    def __init__(self, topic: str, setting: str, required: str, actual: str) -> None:
        self.topic = topic
        self.setting = setting
        self.required = required
        self.actual = actual
        super().__init__(
            f"topic {topic} exists with {setting}={actual} but {required} is required; "
            "delete it or use another kafka.topic_prefix"
        )


class TopicCreateFailed(KafkaSetupError, Terminal):
    """The broker refused to create a topic (bad config, not enough brokers, ...)."""

    def __init__(self, topic: str, reason: str) -> None:
        self.topic = topic
        self.reason = reason
        super().__init__(f"topic {topic} could not be created: {reason}")


class KafkaAuthFailed(KafkaSetupError, Terminal):
    """The listener refused the gateway's credentials, or its TLS handshake failed.

    Terminal: the same password or CA file cannot succeed later. Exit code 3, as for an
    unreachable cluster (no usable connection), but a retry loop stops at once.

    Attributes:
        listener: the listener, as `PROTOCOL://bootstrap.servers`.
        reason: librdkafka's error.
    """

    exit_code = EXIT_UNREACHABLE

    def __init__(self, listener: str, what: str, reason: str, check: str) -> None:
        self.listener = listener
        self.reason = reason
        super().__init__(f"Kafka listener {listener}: {what} failed: {reason}; check {check}")


class BrokerSecurityMisconfigured(KafkaSetupError, Terminal):
    """A "sasl_ssl" local broker lacks a setting or a file it needs."""

    exit_code = EXIT_USAGE

    def __init__(self, key: str, expected: str) -> None:
        self.key = key
        self.expected = expected
        super().__init__(f'kafka.local.security "sasl_ssl": {key} {expected}')


class BrokerProvisionFailed(KafkaSetupError, Terminal):
    """The local broker refused the gateway's SCRAM user or its ACLs."""

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"local Kafka: {what} failed: {reason}")


class TopicAccessDenied(KafkaSetupError, Terminal):
    """The cluster's ACLs do not let the gateway's principal use one of its topics."""

    def __init__(self, listener: str, user: str | None, topic: str, reason: str) -> None:
        self.listener = listener
        self.user = user
        self.topic = topic
        self.reason = reason
        who = f"user {user!r}" if user else "the gateway (no kafka.sasl_username)"
        super().__init__(
            f"Kafka listener {listener} refuses {who} topic {topic}: {reason}; "
            "the principal needs ACLs on the topics, transactional ids and groups that start "
            "with kafka.topic_prefix"
        )
