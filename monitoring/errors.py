"""Errors of the monitoring package."""

from __future__ import annotations

from featurestream.errors import FeatureStreamError

__all__ = ["MonitoringError"]


class MonitoringError(FeatureStreamError):
    """A monitoring check could not run: bad windows, unknown views, unreachable sources."""
