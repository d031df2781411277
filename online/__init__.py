"""The online store: Redis writer (bulk loads; the rules the streaming job's JVM sink is handed) and batched readers."""

from featurestream.online.errors import OnlineStoreError, OnlineStoreFull, OnlineStoreUnavailable
from featurestream.online.keys import encode_entity, entity_key
from featurestream.online.store import OnlineRow, RedisOnlineStore, WriteStats

__all__ = [
    "OnlineRow",
    "OnlineStoreError",
    "OnlineStoreFull",
    "OnlineStoreUnavailable",
    "RedisOnlineStore",
    "WriteStats",
    "encode_entity",
    "entity_key",
]
