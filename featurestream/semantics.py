"""The one implementation of freshness, status and default rules, shared by online and offline paths.

Both the HTTP server and the offline training-set builder import these functions, so a feature that
is expired online is also defaulted offline, with the same boundary:

* online, at request time ``now``: a stored row is live when ``now - max_age < feature_time``;
* offline, for a label at time ``t``: a row is eligible when ``t - max_age < feature_time <= t``.

The lower bound is *exclusive* in both (a row exactly ``max_age`` old is expired). Online has no upper
bound: a row whose ``feature_time`` is ahead of the server clock (clock skew) is still ``PRESENT``.
Every time here is integer epoch milliseconds UTC, or a timezone-aware ``datetime``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from featurestream.definitions import FeatureView

__all__ = [
    "DEGRADED_STATUSES",
    "FILLED_STATUSES",
    "Status",
    "classify",
    "default_for",
    "is_live",
    "max_age",
    "max_age_ms",
    "sla_breached",
    "to_epoch_ms",
]


class Status(StrEnum):
    """Per-value status. The first three are Feast's; the rest are featurestream's own."""

    PRESENT = "PRESENT"  # row exists and is younger than the view's max age
    NOT_FOUND = "NOT_FOUND"  # no row for this entity (never written, or its key expired)
    OUTSIDE_MAX_AGE = "OUTSIDE_MAX_AGE"  # row exists but is max_age old or older
    UNAVAILABLE = "UNAVAILABLE"  # the online store could not be reached
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"  # the online store did not answer within the deadline
    ERROR = "ERROR"  # an on-demand function raised, or a stored value is not JSON (written by hand?)
    TIMEOUT = "TIMEOUT"  # an on-demand function exceeded its budget


# Statuses whose value is replaced by the declared default in the native API and offline.
FILLED_STATUSES = frozenset(
    {
        Status.NOT_FOUND,
        Status.OUTSIDE_MAX_AGE,
        Status.UNAVAILABLE,
        Status.DEADLINE_EXCEEDED,
        Status.ERROR,
        Status.TIMEOUT,
    }
)
DEGRADED_STATUSES = frozenset({Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED})


def to_epoch_ms(value: datetime | int | float) -> int:
    """A timezone-aware datetime or epoch milliseconds -> integer epoch ms UTC.

    Naive datetimes are refused: they are the classic source of silent skew.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"expected a timezone-aware datetime, found naive {value.isoformat()}; "
                "attach a zone, e.g. dt.replace(tzinfo=datetime.UTC)"
            )
        return int((value - _EPOCH) // _MS)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a timezone-aware datetime or epoch milliseconds, found {value!r}")
    return int(value)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def max_age(view: FeatureView) -> timedelta:
    """How old a row may be and still be served (and joined offline). Today: the view's ``ttl``.

    The single place to change when max age should also account for window slide + watermark delay.
    """
    return view.ttl


def max_age_ms(view: FeatureView) -> int:
    return int(max_age(view) // _MS)


def is_live(feature_time_ms: int, at_ms: int, max_age_ms: int) -> bool:
    """True when a row with ``feature_time_ms`` is still fresh at ``at_ms`` (``at - max_age < ft``)."""
    return at_ms - max_age_ms < feature_time_ms


def classify(feature_time_ms: int | None, now_ms: int, max_age_ms: int) -> Status:
    """Status of a stored row read at ``now_ms``; ``None`` means no row was found."""
    if feature_time_ms is None:
        return Status.NOT_FOUND
    if now_ms - max_age_ms < feature_time_ms:
        return Status.PRESENT
    return Status.OUTSIDE_MAX_AGE


def sla_breached(feature_time_ms: int | None, now_ms: int, sla_ms: int) -> bool:
    """True when the newest row is older than the view's freshness SLA (or there is none)."""
    return feature_time_ms is None or now_ms - feature_time_ms > sla_ms


def default_for(view: FeatureView, feature: str) -> Any:
    """The declared default of ``view:feature`` (``-- defaults:`` header), else ``None``."""
    if feature in view.defaults:
        return view.defaults[feature]
    feat = view.feature(feature)
    return None if feat is None else feat.default
