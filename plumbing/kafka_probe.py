"""Metadata requests that notice a refused login or a failed TLS handshake within seconds.

A librdkafka client whose SASL password is wrong, or that does not trust the broker's
certificate, does not fail its requests: it reconnects and retries until they time out, and
reports the cause only through its error callback. `AuthWatch` is that callback;
`list_metadata` asks for metadata in short steps and, between them, serves the callback, so
such a client stops with `KafkaAuthFailed` naming the listener instead of a timeout.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata

from config import KafkaSettings
from plumbing.kafka_errors import KafkaAuthFailed

logger = logging.getLogger(__name__)

_STEP_S = 1.0


class AuthWatch:
    """An `error_cb` for librdkafka that keeps the first authentication or TLS failure."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka
        self.failure: KafkaAuthFailed | None = None

    def __call__(self, error: KafkaError) -> None:
        """librdkafka's error callback: remember a refused login or a failed handshake."""
        if self.failure is not None:
            return
        code = error.code()
        if code == KafkaError._AUTHENTICATION:
            who = f"user {self._kafka.sasl_username!r} ({self._kafka.sasl_mechanism})"
            self.failure = KafkaAuthFailed(
                self._kafka.listener(),
                f"SASL authentication of {who}",
                error.str(),
                "kafka.sasl_username, kafka.sasl_mechanism and OFFLOAD__KAFKA__SASL_PASSWORD",
            )
        elif code == KafkaError._SSL:
            self.failure = KafkaAuthFailed(
                self._kafka.listener(),
                "the TLS handshake",
                error.str(),
                "kafka.ssl_ca_location (the CA that signed the broker's certificate)",
            )
        else:
            logger.debug("Kafka client error at %s: %s", self._kafka.listener(), error.str())

    def raise_if_failed(self) -> None:
        """Raise the failure seen, if any.

        Raises:
            KafkaAuthFailed: the listener refused the credentials or the TLS handshake failed.
        """
        if self.failure is not None:
            raise self.failure


def list_metadata(
    admin: AdminClient, watch: AuthWatch, topic: str | None, timeout: float
) -> ClusterMetadata:
    """`admin.list_topics(topic, timeout)`, stopping early on an authentication failure.

    Args:
        admin: a client whose `error_cb` is `watch`.
        watch: the callback that records authentication and TLS failures.
        topic: one topic to ask about, or None for all.
        timeout: seconds to wait for an answer in all.

    Raises:
        KafkaAuthFailed: the listener refused the credentials or the TLS handshake failed.
        KafkaException: no answer within `timeout` (librdkafka's timeout error).
    """
    deadline = time.monotonic() + timeout
    step = _STEP_S
    while True:
        # Short steps find a refusal quickly; doubling them keeps a slow answer possible.
        wait = max(0.001, min(step, deadline - time.monotonic()))
        step *= 2
        try:
            if topic is None:
                return admin.list_topics(timeout=wait)
            return admin.list_topics(topic=topic, timeout=wait)
        except KafkaException:
            admin.poll(0)
            watch.raise_if_failed()
            if time.monotonic() >= deadline:
                raise
