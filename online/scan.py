"""Walking one view version's online rows: every stored row of one view.

The key layout, its SCAN pattern and the entity decoding are :mod:`online.keys`' (the one key
encoding), never written out again. Rows are read through
:meth:`online.store.RedisOnlineStore.read_rows`, so values decode exactly as lookups decode them.

A full walk costs one SCAN pass over the keyspace: fine for a demo, a report or a test, not for a
request path (lookups know their keys; monitoring samples a bounded number of keys instead).
"""

from __future__ import annotations

from collections.abc import Iterator

from featurestream.definitions import FeatureView
from featurestream.online.keys import decode_entity, entity_part, key_pattern, row_times
from featurestream.online.store import OnlineRow, RedisOnlineStore, row_of

__all__ = ["entity_of", "newest_feature_time", "scan_rows"]


def entity_of(namespace: str, view: FeatureView, key: str | bytes) -> tuple[str, ...]:
    """The entity values (as strings, in the view's entity order) of one key of ``view``."""
    return decode_entity(entity_part(namespace, view.name, view.version, key))


def _key_batches(store: RedisOnlineStore, view: FeatureView, batch: int) -> Iterator[list[str]]:
    keys: list[str] = []
    for raw in store.client.scan_iter(match=key_pattern(store.namespace, view.name, view.version), count=1000):
        keys.append(raw.decode() if isinstance(raw, bytes) else str(raw))
        if len(keys) >= batch:
            yield keys
            keys = []
    if keys:
        yield keys


def scan_rows(store: RedisOnlineStore, view: FeatureView, *, batch: int = 1000) -> dict[tuple[str, ...], OnlineRow]:
    """Every row of ``view`` stored in ``store``'s namespace: ``{entity values: OnlineRow}``.

    Entity values are strings in the view's entity order (as :func:`online.keys.decode_entity`
    returns them); ``OnlineRow.values`` holds every feature of the view, in the view's order, as
    stored (no defaults). Keys are read ``batch`` at a time, one round trip per batch; a key that
    expires between SCAN and read is left out. SCAN may return a key twice; it is kept once.
    """
    out: dict[tuple[str, ...], OnlineRow] = {}
    for keys in _key_batches(store, view, batch):
        for key, reply in zip(keys, store.read_rows(keys), strict=True):
            row = row_of(view, reply)
            if row is not None:
                out[entity_of(store.namespace, view, key)] = row
    return out


def newest_feature_time(store: RedisOnlineStore, view: FeatureView, *, batch: int = 1000) -> int | None:
    """The newest ``feature_time`` (epoch ms UTC) of any stored row of ``view`` in ``store``'s
    namespace, None when it has no row: one SCAN pass, each row's times read from its head."""
    newest: int | None = None
    for keys in _key_batches(store, view, batch):
        for reply in store.read_rows(keys):
            times = row_times(reply)
            if times is not None and (newest is None or times[0] > newest):
                newest = times[0]
    return newest
