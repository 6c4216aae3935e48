"""Which failures of capture are retriable (Debezium's `ErrorHandler.isRetriable`).

Errors of the transactional producer fall in librdkafka's error classes: being fenced
(another instance with the same transactional.id took over) and fatal errors are not
retriable, and nothing more may be written; an abortable error is retried after aborting
the transaction; any other Kafka error leaves the transaction's outcome unknown, and is
retried with a new producer. Any other error is retriable when it is marked `Transient`
(an unreachable broker or source).
"""

from __future__ import annotations

from enum import Enum

from confluent_kafka import KafkaError

from plumbing.errors import Transient

_FENCED = {KafkaError._FENCED, KafkaError.INVALID_PRODUCER_EPOCH}
_FENCED_NAMES = ("PRODUCER_FENCED", "FENCED_INSTANCE_ID")


class KafkaFailure(Enum):
    """The class of a Kafka error of the transactional producer."""

    FENCED = "fenced"
    FATAL = "fatal"
    ABORTABLE = "abortable"
    UNKNOWN = "unknown"


def kafka_failure(error: KafkaError) -> KafkaFailure:
    """The class of `error` (give the cause: `TransactionalProducer.cause`)."""
    if error.code() in _FENCED or error.name() in _FENCED_NAMES:
        return KafkaFailure.FENCED
    if error.fatal() or error.code() == KafkaError._FATAL:
        return KafkaFailure.FATAL
    if error.txn_requires_abort():
        return KafkaFailure.ABORTABLE
    return KafkaFailure.UNKNOWN


def is_retriable(exc: Exception) -> bool:
    """Whether an error other than a Kafka error may go away by itself."""
    return isinstance(exc, Transient)
