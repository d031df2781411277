"""Walking one view version's online rows: the SCAN pattern of its keys, and every stored row.

The key layout is :mod:`online.keys`' (the one key encoding); the pattern and the entity decoding
are derived from :func:`online.keys.entity_key`, never written out again. Rows are read through
:meth:`online.store.RedisOnlineStore.read_raw`, so values decode exactly as lookups decode them.

A full walk costs one SCAN pass over the keyspace: fine for a demo, a report or a test, not for a
request path (lookups know their keys; monitoring samples a bounded number of keys instead).
"""

from __future__ import annotations

from collections.abc import Iterator

from featurestream.definitions import FeatureView
from featurestream.online.keys import CREATED_FIELD, FEATURE_TIME_FIELD, decode_entity, decode_value, entity_key
from featurestream.online.store import OnlineRow, RedisOnlineStore

__all__ = ["entity_of", "key_pattern", "scan_rows"]

_MARK = "\0"


def _split(namespace: str, view: FeatureView) -> tuple[str, str]:
    prefix, suffix = entity_key(namespace, view.name, view.version, _MARK).split(_MARK)
    return prefix, suffix


def key_pattern(namespace: str, view: FeatureView) -> str:
    """The SCAN MATCH pattern of every key of one view version in ``namespace``."""
    prefix, suffix = _split(namespace, view)
    return prefix + "*" + suffix


def entity_of(namespace: str, view: FeatureView, key: str | bytes) -> tuple[str, ...]:
    """The entity values (as strings, in the view's entity order) of one key of ``view``."""
    text = key.decode() if isinstance(key, bytes) else key
    prefix, suffix = _split(namespace, view)
    return decode_entity(text[len(prefix) : len(text) - len(suffix)])


def _key_batches(store: RedisOnlineStore, view: FeatureView, batch: int) -> Iterator[list[str]]:
    keys: list[str] = []
    for raw in store.client.scan_iter(match=key_pattern(store.namespace, view), count=1000):
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
    names = list(view.feature_names)
    out: dict[tuple[str, ...], OnlineRow] = {}
    for keys in _key_batches(store, view, batch):
        replies = store.read_raw([(keys, [FEATURE_TIME_FIELD, CREATED_FIELD, *names])])
        for key, reply in zip(keys, replies, strict=True):
            if reply[0] is None:
                continue
            out[entity_of(store.namespace, view, key)] = OnlineRow(
                int(reply[0]),
                None if reply[1] is None else int(reply[1]),
                {n: decode_value(v) for n, v in zip(names, reply[2:], strict=True)},
            )
    return out
