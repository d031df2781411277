"""HTTP errors: which failures a request may answer with, and the one rule that sorts them.

The rule (applied by :mod:`featurestream.api.handlers`):

* **the caller's mistake** is a 4xx: bad input 400/422, unknown name 404, too many entities 413,
  a missing or wrong API key 401, another namespace 403;
* **a dependency outage** (the online store unreachable, a deadline missed) is a 503 with a
  ``Retry-After`` header: :class:`StoreUnavailable`, or any exception in :data:`STORE_OUTAGES`;
* **load the worker cannot serve in time** is a 503 with ``Retry-After`` too: :class:`Overloaded`
  (``api.admission``), whose body names the ``reason`` (``queue_full`` or ``deadline``);
* **anything else is a bug**: logged with its traceback and answered 500 ``InternalError``,
  never a 503 — a bug must not look like an outage, and its message never reaches the client.

Every error body has one shape, ``{"error": {"code", "name", "message", "hint"?}}``: ``code`` is a
stable snake_case tag, ``name`` the error class (``NotFound``, ``StoreUnavailable``,
``InternalError``), ``message`` what was expected and found, ``hint`` the fix.
"""

from __future__ import annotations

from redis import exceptions as redis_errors

from featurestream.errors import FeatureStreamError
from featurestream.online.errors import OnlineStoreUnavailable

__all__ = [
    "RETRY_AFTER_S",
    "STORE_OUTAGES",
    "ApiError",
    "BadRequest",
    "BodyTooLarge",
    "Forbidden",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "StoreUnavailable",
    "TooCostly",
    "Unauthorized",
    "store_unavailable",
]

# What a dependency outage raises: the store cannot be reached or did not answer in time. A Redis
# error outside this list (a WRONGTYPE, a script error) is a bug or corrupt data, not an outage.
STORE_OUTAGES: tuple[type[Exception], ...] = (
    OnlineStoreUnavailable,
    redis_errors.ConnectionError,  # refused, reset, closed; BusyLoadingError is one too
    redis_errors.TimeoutError,
    redis_errors.ClusterDownError,
    redis_errors.MasterDownError,
    ConnectionError,  # the OS-level one (ConnectionRefusedError, ...)
    TimeoutError,  # asyncio.timeout: a deadline passed
)
RETRY_AFTER_S = 1  # seconds; the store breaker retries every 0.25 s, and Retry-After counts whole seconds


class ApiError(FeatureStreamError):
    """An expected failure of one request: ``status_code`` and ``code`` say which; the class is its name."""

    status_code = 400
    code = "bad_request"

    @property
    def name(self) -> str:
        return type(self).__name__

    def details(self) -> dict[str, str]:
        """Extra fields of the error body (beside code, name, message, hint)."""
        return {}


class BadRequest(ApiError):
    status_code = 422
    code = "invalid_request"


class Unauthorized(ApiError):
    status_code = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"


class NotFound(ApiError):
    status_code = 404
    code = "not_found"


class PayloadTooLarge(ApiError):
    status_code = 413
    code = "too_many_entities"


class BodyTooLarge(PayloadTooLarge):
    """The request body passed ``serving.max_body_bytes`` (answered before it was parsed)."""

    code = "body_too_large"


class TooCostly(PayloadTooLarge):
    """Entities x features of one request passed ``serving.max_cost``."""

    code = "too_many_values"


class StoreUnavailable(ApiError):
    """A dependency outage, not a bad request: the online store (Redis) did not answer."""

    status_code = 503
    code = "store_unavailable"


class Overloaded(ApiError):
    """Shed at admission: the worker holds too many lookups, or this one's deadline cannot be met.

    ``reason`` is ``queue_full`` or ``deadline``; it is part of the error body."""

    status_code = 503
    code = "overloaded"

    def __init__(self, message: str, *, reason: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason

    def details(self) -> dict[str, str]:
        return {"reason": self.reason}


def store_unavailable(exc: BaseException) -> StoreUnavailable:
    """The 503 for an exception in :data:`STORE_OUTAGES`; its message names the exception."""
    if isinstance(exc, StoreUnavailable):
        return exc
    if isinstance(exc, FeatureStreamError):
        return StoreUnavailable(exc.message, hint=exc.hint)
    detail = str(exc) or "no answer in time"
    return StoreUnavailable(
        f"the online store (Redis) is unavailable: {type(exc).__name__}: {detail}",
        hint="GET /readyz reports the store; retry once Redis answers",
    )
