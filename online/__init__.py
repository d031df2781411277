"""The online store: Redis writer (the streaming job's sink, bulk loads) and batched readers."""

from online.errors import OnlineStoreError, OnlineStoreUnavailable
from online.keys import encode_entity, entity_key
from online.store import OnlineRow, RedisOnlineStore, WriteStats

__all__ = [
    "OnlineRow",
    "OnlineStoreError",
    "OnlineStoreUnavailable",
    "RedisOnlineStore",
    "WriteStats",
    "encode_entity",
    "entity_key",
]
