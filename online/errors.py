"""Errors of the online store."""

from __future__ import annotations

from featurestream.errors import FeatureStreamError

__all__ = ["OnlineStoreError", "OnlineStoreUnavailable"]


class OnlineStoreError(FeatureStreamError):
    """A write or read was refused: malformed rows, wrong shapes."""


class OnlineStoreUnavailable(OnlineStoreError):
    """Redis could not be reached or did not answer in time."""
