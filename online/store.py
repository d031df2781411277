"""The Redis online store: the writer the streaming job and ``materialize`` call, and batched reads.

Invariants (every caller relies on them):

* **Shape** — one hash per ``(namespace, view, version, entity)``, key and values as in
  :mod:`online.keys`. A row is a mapping with every entity column of the view, ``feature_time``
  (timezone-aware ``datetime`` or epoch ms UTC), every feature of the view, and optionally
  ``created_at`` (same types; defaults to the write time).
* **Monotonic and idempotent** — a row is applied only when no stored row has a newer
  ``feature_time`` (ties overwrite), atomically per key in a Lua script, so re-delivered or
  out-of-order batches converge to the newest row whatever the order of arrival.
* **Expiry** — each written key expires the view's ``ttl`` after the write; a skipped write does
  not extend the key's life.
* **One round trip per batch** — rows go in chunks of ``chunk_rows`` per script call, and the calls
  of ``pipeline_chunks`` chunks share one pipeline (the bulk path: hundreds of thousands of rows/s).
  On Redis Cluster a chunk is split per slot (a script touches one slot) and the calls are sent as
  one pipeline per node (:mod:`online.cluster`); reads are one cluster pipeline, one round trip
  per node.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from redis.cluster import RedisCluster

from featurestream.columns import CREATED_AT, FEATURE_TIME
from featurestream.definitions import FeatureView
from featurestream.online.client import redis_client
from featurestream.online.cluster import evalsha_per_node
from featurestream.online.errors import OnlineStoreError, OnlineStoreUnavailable
from featurestream.online.keys import (
    CREATED_FIELD,
    FEATURE_TIME_FIELD,
    decode_value,
    encode_entity,
    encode_value,
    entity_key,
    key_parts,
)
from featurestream.online.scripts import READ_LUA, WRITE_LUA, read_args, split_by_slot
from featurestream.semantics import max_age_ms, to_epoch_ms

__all__ = ["OnlineRow", "RedisOnlineStore", "WriteStats"]


@dataclass(frozen=True)
class WriteStats:
    rows: int
    written: int

    @property
    def skipped(self) -> int:
        """Rows not applied because a newer row was already stored."""
        return self.rows - self.written


@dataclass(frozen=True)
class OnlineRow:
    """One stored row: feature_time and created_at in epoch ms UTC, values by feature name."""

    feature_time_ms: int
    created_ms: int | None
    values: dict[str, Any]


class RedisOnlineStore:
    """Synchronous writer and reader over one Redis (or Redis Cluster) client.

    Build it once per process (``RedisOnlineStore.from_url``) and reuse it; it is thread-safe
    as far as the underlying redis-py client is.
    """

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        namespace: str = "default",
        *,
        chunk_rows: int = 200,
        pipeline_chunks: int = 50,
    ) -> None:
        if chunk_rows < 1 or pipeline_chunks < 1:
            raise OnlineStoreError(
                f"chunk_rows and pipeline_chunks must be >= 1, found {chunk_rows}, {pipeline_chunks}"
            )
        self.client = client
        self.namespace = namespace
        self.chunk_rows = chunk_rows
        self.pipeline_chunks = pipeline_chunks
        self._cluster = isinstance(client, RedisCluster)
        self._write_sha: str | None = None
        self._read_sha: str | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        namespace: str = "default",
        *,
        connect_timeout_s: float = 2.0,
        socket_timeout_s: float = 30.0,
        **kwargs: Any,
    ) -> RedisOnlineStore:
        """A store over :func:`online.client.redis_client` (``redis+cluster://`` picks a cluster
        client) with connect and socket timeouts, so a Redis that hangs (SIGSTOP, a dead host)
        raises ``redis.TimeoutError`` instead of blocking its caller forever; the socket timeout
        leaves room for a bulk pipeline. Extra ``kwargs`` go to the store."""
        client = redis_client(url, socket_connect_timeout=connect_timeout_s, socket_timeout=socket_timeout_s)
        return cls(client, namespace, **kwargs)

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------ writes

    def write_rows(
        self, view: FeatureView, rows: Iterable[Mapping[str, Any]], *, created_at: datetime | int | None = None
    ) -> WriteStats:
        """Write feature rows of ``view`` (see the module invariants). Returns how many were applied.

        Raises :class:`OnlineStoreError` for a row missing a column, a naive datetime, or a view
        without features; :class:`OnlineStoreUnavailable` when Redis cannot be reached.
        """
        if not view.features:
            raise OnlineStoreError(
                f"feature view {view.ref} has no features registered",
                hint="run 'featurestream apply' so the registry infers the view's output schema",
            )
        ct_ms = int(time.time() * 1000) if created_at is None else to_epoch_ms(created_at)
        names = view.feature_names
        header: list[Any] = [max_age_ms(view), len(names), *names]
        total = written = 0
        batch: list[tuple[list[str], list[Any]]] = []
        try:
            for keys, blobs in self._chunks(view, rows, ct_ms):
                total += len(keys)
                batch.append((keys, header + blobs))
                if len(batch) >= self.pipeline_chunks:
                    written += self._run_writes(batch)
                    batch = []
            if batch:
                written += self._run_writes(batch)
        except redis.ConnectionError as exc:
            raise OnlineStoreUnavailable(f"cannot write to Redis: {exc}", hint="is the Redis server up?") from exc
        except redis.TimeoutError as exc:
            raise OnlineStoreUnavailable(f"Redis write timed out: {exc}") from exc
        return WriteStats(total, written)

    write_bulk = write_rows  # the same path; pipelining in chunks is what makes it a bulk load

    def _chunks(
        self, view: FeatureView, rows: Iterable[Mapping[str, Any]], ct_ms: int
    ) -> Iterator[tuple[list[str], list[bytes]]]:
        prefix, suffix = key_parts(self.namespace, view.name, view.version)
        ents = view.entities
        single = ents[0] if len(ents) == 1 else None
        names = view.feature_names
        default_ct = str(ct_ms).encode()
        dumps = encode_value
        keys: list[str] = []
        blobs: list[bytes] = []
        for n, row in enumerate(rows):
            try:
                ent = encode_entity((row[single],) if single else [row[e] for e in ents])
                ft = row[FEATURE_TIME]
                ct = row.get(CREATED_AT)
                head = [
                    str(ft if type(ft) is int else to_epoch_ms(ft)).encode(),
                    default_ct if ct is None else str(ct if type(ct) is int else to_epoch_ms(ct)).encode(),
                ]
                blobs.append(b"\0".join(head + [dumps(row[f]) for f in names]))
                keys.append(prefix + ent + suffix)
            except KeyError as exc:
                raise OnlineStoreError(
                    f"row {n} for {view.ref} has no column {exc.args[0]!r}",
                    hint=f"rows need {', '.join((*ents, FEATURE_TIME, *names))}",
                ) from exc
            except (ValueError, TypeError) as exc:
                raise OnlineStoreError(f"row {n} for {view.ref}: {exc}") from exc
            if len(keys) >= self.chunk_rows:
                yield from self._slotted(keys, blobs)
                keys, blobs = [], []
        if keys:
            yield from self._slotted(keys, blobs)

    def _slotted(self, keys: list[str], blobs: list[bytes]) -> Iterator[tuple[list[str], list[bytes]]]:
        if not self._cluster:
            yield keys, blobs
            return
        for positions in split_by_slot(keys).values():
            yield [keys[i] for i in positions], [blobs[i] for i in positions]

    def _run_writes(self, batch: list[tuple[list[str], list[Any]]]) -> int:
        if isinstance(self.client, RedisCluster):  # each call is one slot (_slotted): one pipeline per node
            return sum(int(n) for n in evalsha_per_node(self.client, WRITE_LUA, batch))
        if self._write_sha is None:
            self._write_sha = str(self.client.script_load(WRITE_LUA))
        for attempt in (0, 1):
            pipe = self.client.pipeline(transaction=False)
            for keys, argv in batch:
                pipe.evalsha(self._write_sha, len(keys), *keys, *argv)
            try:
                return sum(int(n) for n in pipe.execute())
            except redis.exceptions.NoScriptError:
                if attempt:
                    raise
                # The server restarted or flushed its scripts; writes are idempotent, so resend.
                self._write_sha = str(self.client.script_load(WRITE_LUA))
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ reads

    def read(
        self, view: FeatureView, entities: Sequence[Sequence[Any]], features: Sequence[str] | None = None
    ) -> list[OnlineRow | None]:
        """The stored rows of ``view`` for each entity (values in the view's entity order), in one
        round trip. ``None`` where no row is stored. Values are returned as stored (no defaults).
        """
        names = list(view.feature_names if features is None else features)
        keys = [entity_key(self.namespace, view.name, view.version, encode_entity(e)) for e in entities]
        replies = self.read_raw([(keys, [FEATURE_TIME_FIELD, CREATED_FIELD, *names])])
        out: list[OnlineRow | None] = []
        for reply in replies:
            if reply[0] is None:
                out.append(None)
                continue
            out.append(
                OnlineRow(
                    int(reply[0]),
                    None if reply[1] is None else int(reply[1]),
                    {n: decode_value(v) for n, v in zip(names, reply[2:], strict=True)},
                )
            )
        return out

    def read_raw(self, groups: Sequence[tuple[Sequence[str], Sequence[str]]]) -> list[list[bytes | None]]:
        """HMGET of ``fields`` for every key of every ``(keys, fields)`` group, in one round trip.

        Returns one list of raw field values per key, in order (``None`` for a missing field).
        """
        if self._cluster:  # keys span slots: let the cluster pipeline route one HMGET per key
            pipe = self.client.pipeline()
            for gkeys, fields in groups:
                for k in gkeys:
                    pipe.hmget(k, list(fields))
            return list(pipe.execute())
        keys, argv = read_args(groups)
        if not keys:
            return []
        if self._read_sha is None:
            self._read_sha = str(self.client.script_load(READ_LUA))
        try:
            return list(self.client.evalsha(self._read_sha, len(keys), *keys, *argv))  # type: ignore[arg-type]
        except redis.exceptions.NoScriptError:
            self._read_sha = str(self.client.script_load(READ_LUA))
            return list(self.client.evalsha(self._read_sha, len(keys), *keys, *argv))  # type: ignore[arg-type]
