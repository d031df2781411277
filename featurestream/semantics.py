"""The one implementation of freshness, status and default rules, shared by online and offline paths.

Both the HTTP server and the offline training-set builder import these functions, so a feature that
is expired online is also defaulted offline, with the same boundary. A stored row is *live* at time
``at`` when ``fresh_after(at) < feature_time`` (:meth:`Validity.fresh_after`):

* online, at request time ``now``: live when ``fresh_after(now) < feature_time``;
* offline, for a label at time ``t``: eligible when ``fresh_after(t) < feature_time <= t``.

The lower bound is *exclusive* in both. Online has no upper bound: a row whose ``feature_time`` is
ahead of the server clock (clock skew) is still ``PRESENT``.

**How long a row is live** (:func:`validity`). Every row expires ``ttl`` after its feature time. A
window row (TUMBLE, HOP, CUMULATE, SESSION with ``window_end AS feature_time``) is emitted only when
its window holds events, so once a key goes quiet its last row would otherwise be served for the
whole TTL ("clicks in the last 10 minutes" = 7, hours after the last click). The quiet-window rule:
a window row is live until the window that would replace it has closed — its end plus the window
step (TUMBLE size, HOP slide, CUMULATE step, SESSION gap) — plus a grace: the source's watermark
delay (the window closes that much later) and the view's freshness SLA (the time the pipeline is
allowed to deliver the replacing row; an active key's next row is there within it, so it never
sees a default in between). A CUMULATE row also dies when its period ends (the next period starts
from zero): ``feature_time`` must be after the start of the period that holds ``at - grace``.
Past its validity a row is ``OUTSIDE_MAX_AGE`` and served as the view's default, online and offline.

Every time here is integer epoch milliseconds UTC, or a timezone-aware ``datetime``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from featurestream.definitions import FeatureView, window_params

__all__ = [
    "DEGRADED_STATUSES",
    "FILLED_STATUSES",
    "Status",
    "Validity",
    "classify",
    "default_for",
    "is_live",
    "max_age",
    "max_age_ms",
    "sla_breached",
    "to_epoch_ms",
    "validity",
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


_WINDOW_END_AS_FEATURE_TIME = re.compile(r"\bwindow_(?:end|time)\s+AS\s+`?feature_time`?", re.I)


@dataclass(frozen=True)
class Validity:
    """When a stored row of one view stops being live (see the module docstring); all in ms.

    ``horizon_ms``: a row is live for at most this long after its feature time (the TTL, or for a
    window row the step plus the grace when shorter). ``period_ms``/``offset_ms``/``grace_ms``:
    CUMULATE's period rule (``period_ms`` 0 for every other view)."""

    horizon_ms: int
    period_ms: int = 0
    offset_ms: int = 0
    grace_ms: int = 0

    def fresh_after(self, at_ms: int) -> int:
        """The exclusive lower bound on ``feature_time`` of a row live at ``at_ms``."""
        lo = at_ms - self.horizon_ms
        if self.period_ms:
            x = at_ms - self.grace_ms - self.offset_ms
            lo = max(lo, x - x % self.period_ms + self.offset_ms)  # start of the period holding at - grace
        return lo


def _ms(td: timedelta) -> int:
    return int(td // _MS)


@lru_cache(maxsize=4096)
def _validity(sql: str, ttl_ms: int, sla_ms: int, delay_ms: int) -> Validity:
    params = window_params(sql)
    if params is None or not _WINDOW_END_AS_FEATURE_TIME.search(sql):
        return Validity(ttl_ms)
    grace = delay_ms + sla_ms
    horizon = min(ttl_ms, _ms(params.step) + grace)
    if params.period is None:
        return Validity(horizon)
    return Validity(horizon, _ms(params.period), _ms(params.offset) % _ms(params.period), grace)


def validity(view: FeatureView) -> Validity:
    """How long the rows of ``view`` are live: the TTL, and for a window view the quiet-window rule."""
    delay = view.watermark_delay or timedelta(0)
    return _validity(view.sql, _ms(view.ttl), _ms(view.freshness_sla), _ms(delay))


def max_age(view: FeatureView) -> timedelta:
    """The longest a row of ``view`` is live after its feature time (``validity(view).horizon_ms``):
    an upper bound for every row, and the exact bound for all but CUMULATE's period rule."""
    return timedelta(milliseconds=validity(view).horizon_ms)


def max_age_ms(view: FeatureView) -> int:
    return validity(view).horizon_ms


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
