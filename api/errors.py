"""HTTP errors: each maps to one status code and names the problem, what was expected and the fix."""

from __future__ import annotations

from featurestream.errors import FeatureStreamError

__all__ = ["ApiError", "BadRequest", "Forbidden", "NotFound", "PayloadTooLarge", "StoreUnavailable", "Unauthorized"]


class ApiError(FeatureStreamError):
    status_code = 400
    code = "bad_request"


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


class StoreUnavailable(ApiError):
    """A dependency outage, not a bad request: the online store (Redis) did not answer."""

    status_code = 503
    code = "store_unavailable"
