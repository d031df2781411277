"""What the CLI prints when a service it needs cannot be reached: one line naming the service, the
error and the fix -- never a traceback. The one mapping from client connection errors (Redis,
Kafka, the OS) to :class:`~featurestream.errors.StackError`."""

from __future__ import annotations

from featurestream.errors import StackError
from featurestream.secrets import redact

__all__ = ["connection_failure"]

_FIX = (
    "check that it runs ('featurestream status', or 'featurestream up' for the local stack) "
    "and its address in featurestream.yaml"
)


def _kafka_unreachable(kafka_errors: object) -> tuple[type[BaseException], ...]:
    names = ("KafkaConnectionError", "KafkaTimeoutError", "NodeNotReadyError", "MetadataEmptyBrokerList")
    # NoBrokersAvailable exists in kafka-python before 3.0 only
    return tuple(getattr(kafka_errors, n) for n in (*names, "NoBrokersAvailable") if hasattr(kafka_errors, n))


def connection_failure(exc: BaseException) -> StackError | None:
    """The one-line error for a failure to reach Redis or Kafka (or any socket); None for anything else."""
    import redis.exceptions as redis_errors
    from kafka import errors as kafka_errors

    if isinstance(exc, (redis_errors.ConnectionError, redis_errors.TimeoutError)):
        service = "Redis (the online store)"
    elif isinstance(exc, _kafka_unreachable(kafka_errors)):
        service = "Kafka"
    elif isinstance(exc, (ConnectionError, TimeoutError)):
        service = "a service"
    else:
        return None
    detail = redact(str(exc)) or "no answer in time"
    return StackError(f"cannot reach {service}: {type(exc).__name__}: {detail}", hint=_FIX)
