"""Admission control: a worker sheds the lookups it cannot serve in time, with an explicit 503.

The rules this module owns (one :class:`Admission` per worker process, consulted by every lookup):

* **A bounded queue.** At most ``serving.max_in_flight`` lookups are in flight in one worker (read
  from Redis, classified, rendered). One more is answered 503 ``Overloaded`` with ``Retry-After`` and
  ``reason: queue_full`` at once: queueing it behind the others would only make every answer late.
* **Deadlines count from arrival.** A lookup's deadline (``serving.deadline_ms``, or the request's
  ``deadline_ms`` / ``x-deadline-ms``) starts when its request arrived at the worker
  (:data:`ARRIVAL_KEY`, stamped by :mod:`featurestream.api.server` as the bytes are parsed, else
  the time the app first sees it). Time spent queued in the event loop is part of it.
* **Shed what cannot be met.** A lookup whose deadline passed while it waited for the worker (from
  arrival until the app first ran for it, :data:`STARTED_KEY`), or whose rest is shorter than a
  Redis read takes in this worker (an average of recent reads) while others are in flight, is
  answered 503 ``Overloaded`` with ``reason: deadline``. An admitted lookup reads Redis within the
  REST of its deadline, so ``DEADLINE_EXCEEDED`` in a 200 means Redis was late (or, with no other
  lookup in flight, the request's own parsing used the deadline up), never that it was queued.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any

from featurestream.api.errors import Overloaded

__all__ = ["ARRIVAL_KEY", "STARTED_KEY", "Admission", "arrival_of", "stamp"]

ARRIVAL_KEY = "featurestream.arrival_s"  # ASGI scope key: time.perf_counter() when the request arrived
STARTED_KEY = "featurestream.started_s"  # ASGI scope key: time.perf_counter() when the app first ran for it
_EWMA = 0.1  # weight of the newest read in the average read time


def stamp(scope: MutableMapping[str, Any]) -> None:
    """Mark the app's first sight of a request: :data:`STARTED_KEY` now, and :data:`ARRIVAL_KEY`
    too when the server did not stamp it (then queueing before the app is not seen)."""
    now = time.perf_counter()
    scope[STARTED_KEY] = now
    if ARRIVAL_KEY not in scope:
        scope[ARRIVAL_KEY] = now


def arrival_of(scope: MutableMapping[str, Any]) -> tuple[float, float]:
    """``(arrival, started)`` of the request of ``scope`` (:func:`stamp`-ed now when it was not)."""
    if STARTED_KEY not in scope:
        stamp(scope)
    return float(scope[ARRIVAL_KEY]), float(scope[STARTED_KEY])


class Admission:
    """The in-flight count and average read time of one worker; see the module rules."""

    def __init__(self, max_in_flight: int) -> None:
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.read_s = 0.0  # moving average of successful Redis reads, seconds

    def admit(self, arrival_s: float, started_s: float, deadline_s: float) -> float:
        """Count one lookup in (release it with :meth:`release`); return the rest of its deadline in
        seconds (``arrival_s``, ``started_s``: see :func:`arrival_of`). Raises :class:`Overloaded`
        (``queue_full`` / ``deadline``) instead of admitting."""
        if self.in_flight >= self.max_in_flight:
            raise Overloaded(
                f"{self.in_flight} lookups in flight in this worker, the bound is {self.max_in_flight}",
                reason="queue_full",
                hint="retry after Retry-After, spread the load over more workers or replicas, "
                "or raise serving.max_in_flight",
            )
        waited = started_s - arrival_s
        rest = deadline_s - (time.perf_counter() - arrival_s)
        if waited >= deadline_s or (self.in_flight and rest < self.read_s):
            raise Overloaded(
                f"the deadline of {deadline_s * 1000:.1f} ms cannot be met: the request waited "
                f"{waited * 1000:.1f} ms for this worker, {max(rest, 0) * 1000:.1f} ms are left and a read "
                f"takes ~{self.read_s * 1000:.1f} ms",
                reason="deadline",
                hint="retry after Retry-After with a longer deadline_ms, or spread the load over more workers",
            )
        self.in_flight += 1
        return rest

    def release(self) -> None:
        self.in_flight -= 1

    def observe_read(self, seconds: float) -> None:
        """Fold one successful read's duration into the average (failed reads are not counted)."""
        self.read_s += _EWMA * (seconds - self.read_s)
