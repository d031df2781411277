"""Errors of the offline store; all derive from :class:`featurestream.errors.FeatureStreamError`."""

from __future__ import annotations

from featurestream.errors import FeatureStreamError

__all__ = ["LabelError", "OfflineError"]


class OfflineError(FeatureStreamError):
    """The offline store cannot be read, written or queried as asked."""


class LabelError(OfflineError):
    """The label rows given to a training-set request are unusable (columns, timestamps)."""
