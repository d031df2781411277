"""The online store of each namespace the server serves: its own reader and its own breaker.

The rules this module owns:

* **One store per namespace.** Every namespace gets its own :class:`AsyncOnlineReader` -- its own
  pipelined connection (or ``redis.asyncio`` pool) -- over ``Config.redis_url_for(namespace)``, opened
  on the namespace's first lookup. Namespaces that share a Redis still share no connection, so one
  namespace that exhausts its pool or fills its connection with slow reads never queues another's.
* **One breaker per namespace.** After a read of namespace A fails with an outage
  (:data:`~featurestream.api.errors.STORE_OUTAGES`), A's reads are skipped -- answered degraded at
  once -- for ``retry_interval_s``, then tried again, so A reconnects by itself when its Redis
  returns. Namespace B's breaker is B's alone: B is still read, and only B's own failed read opens
  it. An outage of a Redis that both use costs each namespace one failed read per interval.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from featurestream.online.reader import AsyncOnlineReader
from featurestream.secrets import redact

__all__ = ["NamespaceStore", "Stores"]

log = logging.getLogger(__name__)


class NamespaceStore:
    """One namespace's reader and breaker (see the module rules)."""

    def __init__(self, namespace: str, reader: AsyncOnlineReader, retry_interval_s: float) -> None:
        self.namespace = namespace
        self.reader = reader
        self.retry_interval_s = retry_interval_s
        self.last_error: str | None = None
        self._blocked_until = 0.0

    def blocked(self) -> bool:
        """Whether the breaker is open: the last read failed less than ``retry_interval_s`` ago."""
        return self._blocked_until > time.monotonic()

    def failed(self, exc: BaseException) -> None:
        """Open the breaker for ``retry_interval_s`` after an outage (logged once per outage)."""
        if self.last_error is None:
            log.warning("online store of namespace %s unavailable: %s", self.namespace, redact(str(exc)))
        self.last_error = f"{type(exc).__name__}: {redact(str(exc))}"
        self._blocked_until = time.monotonic() + self.retry_interval_s

    def ok(self) -> None:
        """Close the breaker after a read that worked."""
        if self.last_error is not None:
            log.info("online store of namespace %s reachable again", self.namespace)
        self.last_error = None
        self._blocked_until = 0.0


class Stores:
    """The :class:`NamespaceStore` of every namespace, each opened on first use by ``open_reader(namespace)``."""

    def __init__(self, open_reader: Callable[[str], AsyncOnlineReader], retry_interval_s: float = 0.25) -> None:
        self._open = open_reader
        self.retry_interval_s = retry_interval_s
        self._stores: dict[str, NamespaceStore] = {}

    def __getitem__(self, namespace: str) -> NamespaceStore:
        store = self._stores.get(namespace)
        if store is None:
            store = self._stores[namespace] = NamespaceStore(namespace, self._open(namespace), self.retry_interval_s)
        return store

    def opened(self) -> list[NamespaceStore]:
        """The stores opened so far."""
        return list(self._stores.values())

    async def close(self) -> None:
        for store in self._stores.values():
            await store.reader.close()
        self._stores.clear()
