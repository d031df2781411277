"""Bounded discovery of one view's online rows: SCAN MATCH on the key pattern, then the rows' times.

The key pattern and the row layout come from :mod:`online.keys` (``key_pattern``, ``row_times``);
the reads go through :meth:`online.store.RedisOnlineStore.read_rows`. Scans are bounded by a key count
and a time budget, so a huge keyspace costs a bounded sample, never a full walk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from featurestream.definitions import FeatureView
from featurestream.online.keys import key_pattern, row_times
from featurestream.online.store import RedisOnlineStore

__all__ = ["KeySample", "sample_keys", "sample_times"]


@dataclass(frozen=True)
class KeySample:
    """Keys found for a view; ``exhaustive`` when the scan saw the whole keyspace."""

    keys: list[str]
    exhaustive: bool


@dataclass(frozen=True)
class RowTimes:
    key: str
    feature_time_ms: int
    created_ms: int | None


def sample_keys(store: RedisOnlineStore, view: FeatureView, limit: int, *, budget_s: float = 2.0) -> KeySample:
    """Up to ``limit`` distinct keys of ``view`` (SCAN MATCH, COUNT 1000), within ``budget_s``."""
    pattern = key_pattern(store.namespace, view.name, view.version)
    seen: dict[str, None] = {}
    deadline = time.monotonic() + budget_s
    exhaustive = True
    for raw in store.client.scan_iter(match=pattern, count=1000):
        seen[raw.decode() if isinstance(raw, bytes) else str(raw)] = None
        if len(seen) >= limit or time.monotonic() > deadline:
            exhaustive = False
            break
    return KeySample(list(seen), exhaustive)


def sample_times(store: RedisOnlineStore, keys: list[str]) -> list[RowTimes]:
    """feature_time and created_at of each key's row, in one round trip; keys that vanished are left out."""
    out: list[RowTimes] = []
    for key, reply in zip(keys, store.read_rows(keys), strict=True):
        times = row_times(reply)
        if times is not None:
            out.append(RowTimes(key, *times))
    return out
