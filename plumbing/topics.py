"""A thin wrapper over Kafka's admin API: is the cluster there, and make sure a topic is.

Every part creates its topics through `ensure_topic`, so the broker's automatic topic
creation stays off and each topic gets the partitions and cleanup policy its part needs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import IsolationLevel, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, OffsetSpec, ResourceType

from config import KafkaSettings
from plumbing.kafka_errors import (
    BrokerUnreachable,
    KafkaUnavailable,
    TopicAccessDenied,
    TopicCreateFailed,
    TopicMismatch,
)
from plumbing.kafka_probe import AuthWatch, list_metadata

logger = logging.getLogger(__name__)

_POLL_S = 0.1
_SETTLE_POLL_S = 0.01


@dataclass(frozen=True)
class TopicDescription:
    """What the cluster says about one topic."""

    name: str
    partitions: int
    """Number of partitions."""
    config: dict[str, str]
    """The topic's effective configuration (defaults included)."""


def admin_client(kafka: KafkaSettings, quiet: bool = False) -> AdminClient:
    """An admin client on the configured cluster; `quiet` keeps librdkafka's log off stderr."""
    return _watched_admin(kafka, quiet)[0]


def _watched_admin(kafka: KafkaSettings, quiet: bool = False) -> tuple[AdminClient, AuthWatch]:
    """An admin client and the error callback that records a refused login or handshake."""
    watch = AuthWatch(kafka)
    conf: dict[str, Any] = {**kafka.client_config(), "error_cb": watch}
    if quiet:
        # A probe of a broker that is down is expected to fail; its connection errors are noise.
        conf["log_level"] = 0
    return AdminClient(conf), watch


def ping(kafka: KafkaSettings, timeout: float = 5.0) -> bool:
    """Whether a broker on `kafka.bootstrap_servers` answers a metadata request in `timeout` s.

    Raises:
        KafkaAuthFailed: the listener refused the credentials or the TLS handshake failed.
    """
    admin, watch = _watched_admin(kafka, quiet=True)
    try:
        metadata = list_metadata(admin, watch, None, timeout)
    except KafkaException as exc:
        logger.debug("no metadata from %s: %s", kafka.bootstrap_servers, exc)
        return False
    return bool(metadata.brokers)


def describe_topic(
    kafka: KafkaSettings, name: str, timeout: float = 30.0
) -> TopicDescription | None:
    """The topic's partitions and configuration, or None when it does not exist.

    Raises:
        BrokerUnreachable: when no broker answers within `timeout` seconds.
    """
    admin, watch = _watched_admin(kafka)
    partitions = _partition_count(admin, watch, kafka, name, timeout)
    if partitions is None:
        return None
    resource = ConfigResource(ResourceType.TOPIC, name)
    try:
        entries = admin.describe_configs([resource], request_timeout=timeout)[resource].result()
    except KafkaException as exc:
        raise BrokerUnreachable(kafka.bootstrap_servers, timeout, str(exc.args[0])) from exc
    config = {key: entry.value for key, entry in entries.items() if entry.value is not None}
    return TopicDescription(name=name, partitions=partitions, config=config)


def ensure_topic(
    kafka: KafkaSettings,
    name: str,
    partitions: int,
    config: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> TopicDescription:
    """Create `name` unless it exists, wait until it is usable, and check it fits.

    Args:
        kafka: the cluster and the replication factor of new topics.
        name: the full topic name (prefix included).
        partitions: partitions of a new topic; an existing one needs at least as many.
        config: topic configs of a new topic (e.g. cleanup.policy, retention.ms); an existing
            topic must have the same cleanup.policy.
        timeout: seconds to wait for the broker and for the new topic's partition leaders.

    Raises:
        BrokerUnreachable: no broker answered.
        TopicCreateFailed: the broker refused the topic.
        TopicMismatch: the topic exists with fewer partitions or another cleanup.policy.
    """
    wanted = dict(config or {})
    admin, watch = _watched_admin(kafka)
    if _partition_count(admin, watch, kafka, name, timeout) is None:
        new = NewTopic(
            name,
            num_partitions=partitions,
            replication_factor=kafka.replication_factor,
            config=wanted,
        )
        _create(admin, kafka, new, timeout)
        _wait_until_led(admin, kafka, name, timeout)
    found = describe_topic(kafka, name, timeout)
    if found is None:  # deleted between our calls: report it rather than loop
        raise TopicCreateFailed(name, "it disappeared right after it was created")
    if found.partitions < partitions:
        raise TopicMismatch(name, "partitions", f"at least {partitions}", str(found.partitions))
    policy = wanted.get("cleanup.policy")
    actual = found.config.get("cleanup.policy", "delete")
    if policy is not None and _policy_set(policy) != _policy_set(actual):
        raise TopicMismatch(name, "cleanup.policy", policy, actual)
    return found


def _policy_set(policy: str) -> frozenset[str]:
    return frozenset(part.strip() for part in policy.split(",") if part.strip())


def _partition_count(
    admin: AdminClient, watch: AuthWatch, kafka: KafkaSettings, name: str, timeout: float
) -> int | None:
    try:
        metadata = list_metadata(admin, watch, name, timeout)
    except KafkaException as exc:
        raise BrokerUnreachable(kafka.bootstrap_servers, timeout, str(exc.args[0])) from exc
    topic = metadata.topics.get(name)
    missing = KafkaError.UNKNOWN_TOPIC_OR_PART
    if topic is None or (topic.error is not None and topic.error.code() == missing):
        return None
    if topic.error is not None and topic.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
        raise TopicAccessDenied(kafka.listener(), kafka.sasl_username, name, topic.error.str())
    if topic.error is not None:
        raise BrokerUnreachable(kafka.bootstrap_servers, timeout, f"topic {name}: {topic.error}")
    return len(topic.partitions)


_UNREACHABLE = (KafkaError._TRANSPORT, KafkaError._TIMED_OUT)
_BUSY = (
    KafkaError.BROKER_NOT_AVAILABLE,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_CONTROLLER,
    KafkaError.REQUEST_TIMED_OUT,
)


def refused_for_now(error: KafkaError) -> bool:
    """A refusal that a retry can outlast: the cluster is starting, stopping or electing.

    A broker shutting down (or not yet registered) is "fenced": KRaft then answers a create
    with INVALID_REPLICATION_FACTOR and "All brokers are currently fenced".
    """
    if error.code() in _BUSY:
        return True
    return error.code() == KafkaError.INVALID_REPLICATION_FACTOR and "fenced" in error.str()


def _create(admin: AdminClient, kafka: KafkaSettings, new: NewTopic, timeout: float) -> None:
    name = new.topic
    future = admin.create_topics([new], operation_timeout=timeout, request_timeout=timeout)[name]
    try:
        future.result()
    except KafkaException as exc:
        error = exc.args[0]
        if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            logger.debug("topic %s was created concurrently", name)
            return
        if isinstance(error, KafkaError) and refused_for_now(error):
            raise KafkaUnavailable(f"creating topic {name}", error.str()) from exc
        if isinstance(error, KafkaError) and error.code() in _UNREACHABLE:
            raise BrokerUnreachable(kafka.bootstrap_servers, timeout, str(error)) from exc
        reason = error.str() if isinstance(error, KafkaError) else str(error)
        raise TopicCreateFailed(name, reason) from exc
    logger.info("created topic %s (%d partitions)", name, new.num_partitions)


def _wait_until_led(admin: AdminClient, kafka: KafkaSettings, name: str, timeout: float) -> None:
    """Wait until every partition of the new topic has a leader, so clients can use it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            topic = admin.list_topics(topic=name, timeout=timeout).topics.get(name)
        except KafkaException as exc:
            raise BrokerUnreachable(kafka.bootstrap_servers, timeout, str(exc.args[0])) from exc
        partitions = topic.partitions if topic is not None and topic.error is None else {}
        if partitions and all(p.leader >= 0 for p in partitions.values()):
            return
        if time.monotonic() >= deadline:
            raise TopicCreateFailed(name, f"its partitions had no leader after {timeout:g} s")
        time.sleep(_POLL_S)


def wait_until_settled(kafka: KafkaSettings, topics: Iterable[str], timeout: float = 30.0) -> bool:
    """Wait until no partition of `topics` holds an open or unmarked transaction.

    A transactional producer's commit returns once the coordinator has decided; it writes the
    COMMIT markers to the partitions a moment later. Until then a read_committed reader sees
    each partition end at its last stable offset, before the committed transaction. This waits
    until the last stable offset of every partition equals its end (missing topics are skipped).

    Returns:
        Whether every partition settled within `timeout` seconds.

    Raises:
        BrokerUnreachable: no broker answered.
    """
    admin, watch = _watched_admin(kafka)
    try:
        metadata = list_metadata(admin, watch, None, timeout)
    except KafkaException as exc:
        raise BrokerUnreachable(kafka.bootstrap_servers, timeout, str(exc.args[0])) from exc
    wanted = set(topics)
    latest = {
        TopicPartition(name, partition): OffsetSpec.latest()
        for name, topic in metadata.topics.items()
        if name in wanted and topic.error is None
        for partition in topic.partitions
    }
    deadline = time.monotonic() + timeout
    while latest:
        ends = _offsets(admin, latest, IsolationLevel.READ_UNCOMMITTED, timeout)
        stable = _offsets(admin, latest, IsolationLevel.READ_COMMITTED, timeout)
        latest = {where: spec for where, spec in latest.items() if stable[where] < ends[where]}
        if latest and time.monotonic() >= deadline:
            return False
        if latest:
            time.sleep(_SETTLE_POLL_S)
    return True


def _offsets(
    admin: AdminClient,
    specs: dict[TopicPartition, OffsetSpec],
    isolation: IsolationLevel,
    timeout: float,
) -> dict[TopicPartition, int]:
    """The offsets `specs` ask for, read at `isolation`."""
    futures = admin.list_offsets(specs, isolation_level=isolation, request_timeout=timeout)
    try:
        return {where: future.result().offset for where, future in futures.items()}
    except KafkaException as exc:
        where = ", ".join(sorted({tp.topic for tp in specs}))
        raise KafkaUnavailable(f"the end offsets of {where}", str(exc.args[0])) from exc
