"""RFC 3339 UTC timestamps as protobuf's JSON mapping writes them (what Feast clients parse)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["EPOCH_TS", "iso_ms"]

EPOCH_TS = "1970-01-01T00:00:00Z"
_cache: dict[int, str] = {}


def iso_ms(ms: int | None) -> str:
    """Epoch ms -> ``2024-05-01T12:00:00Z`` (``.123Z`` when there are milliseconds)."""
    if ms is None:
        return EPOCH_TS
    s = _cache.get(ms)
    if s is None:
        secs, rem = divmod(ms, 1000)
        base = datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        s = f"{base}.{rem:03d}Z" if rem else f"{base}Z"
        if len(_cache) > 50_000:
            _cache.clear()
        _cache[ms] = s
    return s
