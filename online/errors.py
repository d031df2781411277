"""Errors of the online store."""

from __future__ import annotations

from featurestream.errors import FeatureStreamError

__all__ = ["OnlineStoreError", "OnlineStoreFull", "OnlineStoreUnavailable"]


class OnlineStoreError(FeatureStreamError):
    """A write or read was refused: malformed rows, wrong shapes."""


class OnlineStoreUnavailable(OnlineStoreError):
    """Redis could not be reached or did not answer in time."""


class OnlineStoreFull(OnlineStoreError):
    """Redis refused a write because it is out of memory (``maxmemory`` reached, ``-OOM``). Reads
    still work; writes fail until memory is freed or raised, so a stream job fails and restarts
    with its backoff, and ``materialize`` stops with this error."""
