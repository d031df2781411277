"""The Redis online store: the writer ``materialize`` and bulk loads call, and batched reads.

The streaming job writes through its JVM sink (``featurestream-redis``, ``jobs/java``), which is
handed the same rules as options (``jobs.compiler.online_table_ddl``): the keys and rows of
:mod:`online.keys`, :data:`online.scripts.WRITE_LUA` and :func:`key_ttl_ms`; so the invariants below
hold for its writes too.

Invariants (every caller relies on them):

* **Shape** — one key per ``(namespace, view, version, entity)`` holding the row as one JSON array
  (the compact row), key and value as in :mod:`online.keys`. A row has every entity column of the
  view, ``feature_time`` (timezone-aware timestamp or epoch ms UTC), every feature of the view, and
  optionally ``created_at`` (same types; a null or missing one is the write time). Rows come as
  columns (:meth:`write_columns`: Arrow, numpy, pandas or lists, encoded a column at a time by
  :mod:`online.columnar`) or as mappings (:meth:`write_rows`, a thin adapter over it); both store
  the same bytes for the same values.
* **Monotonic and idempotent: the write rule** — atomically per key, in one Lua script
  (:data:`online.scripts.WRITE_LUA`; for bulk loads a plain ``SET NX`` first, which only writes a
  key holding nothing, or :data:`~online.scripts.FILL_LUA`: the same rule probed differently, see
  :meth:`RedisOnlineStore.write_columns`), a row is applied when the key holds

  - no row, or
  - a row with an older ``feature_time``, or
  - a row with the same ``feature_time`` and a ``created_at`` no newer than the row's (or none).

  So an older row never replaces a newer one; a replay of a row (same ``feature_time`` and
  ``created_at``) is applied again and changes nothing; at an equal ``feature_time`` the latest
  computation wins, the same row the offline point-in-time join picks (ties: latest
  ``created_at``), so online and training agree on ties too. Within one batch rows apply in order,
  so re-delivered or out-of-order batches converge to the same row whatever the arrival order.

  What the rule does **not** do: judge whether a row is complete. A job restarted on empty state
  (``--fresh``, lost checkpoints) that re-emits a window it saw only part of writes that partial
  row with a *newer* ``created_at``, and it wins the tie. The rule protects the newest
  computation against older ones (an old ``materialize`` or backfill over a newer stream row, a
  slow duplicate writer); keeping partial windows out is the job's side (a fresh start must not
  emit a window that began before its first event), not something a stored timestamp can decide.
* **Expiry** — each written key expires the view's ``ttl`` after the write; a skipped write does
  not extend the key's life.
* **Few round trips per batch** — rows go in chunks of ``chunk_rows`` per script call, and
  ``pipeline_chunks`` chunks make one batch sent as one buffer; the next batch is encoded and sent
  before the previous one's replies are read (:mod:`online.resp`), so client and server work at
  once. On Redis Cluster rows are grouped per slot (a script touches one slot) and each batch's
  calls go as one pipeline per node (:mod:`online.cluster`); reads are one cluster pipeline, one
  round trip per node.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice, pairwise
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from featurestream.columns import CREATED_AT, FEATURE_TIME
from featurestream.definitions import FeatureView
from featurestream.online.client import redis_client
from featurestream.online.cluster import eval_per_node
from featurestream.online.columnar import (
    Column,
    as_column,
    encode_entities,
    encode_rows,
    encode_values,
    epoch_ms,
    keyless_rows,
    take,
)
from featurestream.online.errors import OnlineStoreError, OnlineStoreFull, OnlineStoreUnavailable
from featurestream.online.keys import (
    RowReply,
    decode_row,
    encode_entity,
    entity_key,
    key_parts,
    row_layout,
)
from featurestream.online.resp import Connection, arg, command_head, commands, frame
from featurestream.online.scripts import FILL_LUA, READ_ROWS_LUA, WRITE_LUA, absent_write, rows_per_slot
from featurestream.semantics import to_epoch_ms

__all__ = ["FillProbe", "OnlineRow", "RedisOnlineStore", "WriteStats", "key_ttl_ms", "row_of"]


# EVAL, not EVALSHA: a restarted or flushed server never answers NOSCRIPT. Per probe (online.scripts).
_WRITE = (arg(b"EVAL"), arg(WRITE_LUA))
_FILL = (arg(b"EVAL"), arg(FILL_LUA))

FillProbe = Literal["set-nx", "script"]
"""How ``write_columns(..., fill=True)`` probes keys (:class:`RedisOnlineStore`'s ``fill_probe``)."""
_FILL_PROBES: tuple[FillProbe, ...] = ("set-nx", "script")


def key_ttl_ms(view: FeatureView) -> int:
    """The expiry of a written key of ``view`` in ms, :data:`WRITE_LUA`'s ``ARGV[1]`` (every writer
    passes this: the store here, the streaming job's sink through ``jobs.compiler``). A key lives for
    the view's ``ttl`` after its last write (retention); whether its row is still served is
    :func:`semantics.validity`'s call, which may end sooner (a quiet window)."""
    return int(view.ttl // timedelta(milliseconds=1))


def _header(view: FeatureView) -> tuple[bytes, int]:
    """The framed ARGV head of :data:`WRITE_LUA` for ``view`` (:func:`key_ttl_ms`) and its length."""
    return arg(key_ttl_ms(view)), 1


def _refused(exc: redis.ResponseError) -> OnlineStoreError:
    """The error for a write Redis refused: :class:`OnlineStoreFull` when it is out of memory."""
    if isinstance(exc, redis.exceptions.OutOfMemoryError) or str(exc).startswith("OOM"):
        return OnlineStoreFull(
            f"Redis is out of memory (maxmemory reached) and refused the write: {exc}",
            hint="raise the server's maxmemory, shorten the views' ttl, or move views to another store; "
            "reads still work, and a stream job retries with its restart backoff",
        )
    return OnlineStoreError(f"Redis refused the write: {exc}", hint="see the Redis server's log")


def _set_nx(view: FeatureView) -> tuple[bytes, bytes]:
    """The framed head and tail of a row's ``SET key row`` + :func:`online.scripts.absent_write`."""
    words = absent_write(key_ttl_ms(view))
    return command_head(3 + len(words), arg(b"SET")), b"".join(arg(w) for w in words)


def _absent_written(replies: Sequence[Any]) -> tuple[int, list[int]]:
    """From the parsed replies of a batch of ``SET NX`` commands (:func:`online.resp.parse_reply`): how
    many wrote their row (``OK``) and the positions of those that found their key held (nil); the
    first error reply is raised, and so is any other reply."""
    held: list[int] = []
    for i, r in enumerate(replies):
        if r is None:
            held.append(i)
        elif r != b"OK":
            if isinstance(r, redis.ResponseError):
                raise _refused(r) from r
            raise OnlineStoreError(f"unexpected reply to SET NX: {r!r}")
    return len(replies) - len(held), held


def _absent_written_lines(lines: list[bytes], reply: Callable[[bytes], Any]) -> tuple[int, list[int]]:
    """:func:`_absent_written` of raw one-line replies; a batch of all ``+OK`` (a load into an empty
    store) is counted without parsing a line."""
    if lines.count(b"+OK") == len(lines):
        return len(lines), []
    return _absent_written([b"OK" if line == b"+OK" else reply(line) for line in lines])


def _count(replies: Sequence[Any]) -> int:
    """Rows applied, from the script's replies; the first error reply is raised."""
    for r in replies:
        if isinstance(r, redis.ResponseError):
            raise _refused(r) from r
    return sum(int(r) for r in replies)


@dataclass(frozen=True)
class WriteStats:
    rows: int
    written: int
    keyless: int = 0  # rows not stored: an entity value NULL or blank (online.keys.is_keyless)

    @property
    def skipped(self) -> int:
        """Rows not applied because a newer row was already stored."""
        return self.rows - self.written - self.keyless


@dataclass(frozen=True)
class OnlineRow:
    """One stored row: feature_time and created_at in epoch ms UTC, values by feature name."""

    feature_time_ms: int
    created_ms: int | None
    values: dict[str, Any]


def row_of(view: FeatureView, reply: RowReply, features: Sequence[str] | None = None) -> OnlineRow | None:
    """One key's row read (:meth:`RedisOnlineStore.read_rows`) of ``view`` as an :class:`OnlineRow`
    holding ``features`` (default: every feature of the view), or ``None`` when no row is stored."""
    layout = row_layout(view.feature_names)
    row = decode_row(reply, layout.names)
    if row is None:
        return None
    pos = layout.positions
    wanted = view.feature_names if features is None else features
    values = {f: row[pos[f]] if f in pos else None for f in wanted}
    return OnlineRow(int(row[0]), None if row[1] is None else int(row[1]), values)


class RedisOnlineStore:
    """Synchronous writer and reader over one Redis (or Redis Cluster) client.

    Build it once per process (``RedisOnlineStore.from_url``) and reuse it; it is thread-safe
    as far as the underlying redis-py client is. ``fill_probe`` picks how a bulk load
    (``write_columns(..., fill=True)``) probes its keys; see :meth:`write_columns`.
    """

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        namespace: str = "default",
        *,
        chunk_rows: int = 200,
        pipeline_chunks: int = 50,
        fill_probe: FillProbe = "set-nx",
    ) -> None:
        if chunk_rows < 1 or pipeline_chunks < 1:
            raise OnlineStoreError(
                f"chunk_rows and pipeline_chunks must be >= 1, found {chunk_rows}, {pipeline_chunks}"
            )
        if fill_probe not in _FILL_PROBES:
            raise OnlineStoreError(f"fill_probe must be one of {', '.join(_FILL_PROBES)}, found {fill_probe!r}")
        self.client = client
        self.fill_probe = fill_probe
        self.namespace = namespace
        self.chunk_rows = chunk_rows
        self.pipeline_chunks = pipeline_chunks
        self._cluster = isinstance(client, RedisCluster)
        self._write_sha: str | None = None
        self._rows_sha: str | None = None

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

    def write_columns(
        self,
        view: FeatureView,
        columns: Mapping[str, Any],
        *,
        created_at: datetime | int | None = None,
        fill: bool = False,
    ) -> WriteStats:
        """Write feature rows of ``view`` given as columns (see the module invariants).

        ``columns`` maps every entity column of the view, ``feature_time``, every feature and
        optionally ``created_at`` to equally long columns: Arrow arrays, numpy arrays, pandas
        Series or lists (encoded as :mod:`online.columnar` states: the same bytes as
        :meth:`write_rows` writes for the same values). A null ``created_at`` (or none) is
        ``created_at``, else the write time. A row whose entity value is NULL or blank
        (:func:`online.keys.is_keyless`) is not stored but counted in ``keyless``. Returns how many
        rows were given, applied and keyless.

        ``fill`` says most keys are expected to hold nothing (a bulk load, ``materialize``): the same
        rule, probed so that a new row costs one command instead of a script's ``GET`` and ``SET``.
        How is the store's ``fill_probe``:

        - ``"set-nx"`` (the default): every row is first sent as a plain pipelined ``SET key row NX
          PX ttl`` (:func:`online.scripts.absent_write`, no script: ~2.5 µs of server CPU per new
          row against ~4.8 for the script probe): a key that held nothing is written by it (applied:
          nothing to compare against); the rows whose key held anything (nil reply: a row, a
          per-feature hash) then go, in their order, through :data:`~online.scripts.WRITE_LUA`, which
          judges them by the whole rule atomically. A batch where most keys already held a row
          switches the rest of the call to :data:`~online.scripts.FILL_LUA` (a rewrite would
          otherwise pay the failed ``SET NX`` and the script).
        - ``"script"``: every row through :data:`~online.scripts.FILL_LUA`, which probes with
          ``SET key row NX GET`` inside the script (Redis >= 7.0).

        Either way the stored rows and the counts are those of ``fill=False``: the rule and its order
        within the call hold (a row sent on to the script is sent after every row before it, and
        before any later row of the same key, which finds that key held too; a key that expires or
        is deleted between the two is a concurrent change, as for any other writer).

        Raises :class:`OnlineStoreError` for a missing column, columns of unequal lengths, a naive
        timestamp, a null ``feature_time`` or a value JSON cannot hold;
        :class:`OnlineStoreUnavailable` when Redis cannot be reached.
        """
        names = self._feature_names(view)
        needed = (*view.entities, FEATURE_TIME, *names)
        missing = [c for c in needed if c not in columns]
        if missing:
            raise OnlineStoreError(
                f"columns for {view.ref} lack {', '.join(repr(c) for c in missing)}",
                hint=f"pass {', '.join(needed)} (and optionally {CREATED_AT})",
            )
        cols = {c: as_column(columns[c]) for c in (*needed, CREATED_AT) if c in columns}
        lengths = {c: len(v) for c, v in cols.items()}
        n = lengths[FEATURE_TIME]
        if any(m != n for m in lengths.values()):
            raise OnlineStoreError(f"columns for {view.ref} differ in length: {lengths}")
        ct_ms = int(time.time() * 1000) if created_at is None else to_epoch_ms(created_at)
        keyless = 0
        bad = keyless_rows([cols[e] for e in view.entities])
        if bad is not None:  # never stored under "None" or "": counted instead
            keyless = int(bad.sum())
            cols = {c: take(v, ~bad) for c, v in cols.items()}
        total, n = n, n - keyless
        try:
            write = self._write_cluster if self._cluster else self._write
            written = write(view, cols, n, ct_ms, fill and self.fill_probe == "set-nx", _FILL if fill else _WRITE)
        except redis.ConnectionError as exc:
            raise OnlineStoreUnavailable(f"cannot write to Redis: {exc}", hint="is the Redis server up?") from exc
        except redis.TimeoutError as exc:
            raise OnlineStoreUnavailable(f"Redis write timed out: {exc}") from exc
        except redis.ResponseError as exc:
            raise _refused(exc) from exc
        return WriteStats(total, written, keyless)

    def write_rows(
        self, view: FeatureView, rows: Iterable[Mapping[str, Any]], *, created_at: datetime | int | None = None
    ) -> WriteStats:
        """Write feature rows of ``view`` given as mappings: :meth:`write_columns` over batches of
        the rows turned into columns (lists, so each value is encoded as the object it is).

        Raises :class:`OnlineStoreError` for a row missing a column, a naive datetime, or a view
        without features; :class:`OnlineStoreUnavailable` when Redis cannot be reached.
        """
        names = self._feature_names(view)
        needed = (*view.entities, FEATURE_TIME, *names)
        ct_ms = int(time.time() * 1000) if created_at is None else to_epoch_ms(created_at)
        step = self.chunk_rows * self.pipeline_chunks
        total = written = keyless = 0
        it = iter(rows)
        while batch := list(islice(it, step)):
            try:
                cols: dict[str, list[Any]] = {c: [r[c] for r in batch] for c in needed}
            except KeyError as exc:
                bad = next(i for i, r in enumerate(batch) if exc.args[0] not in r)
                raise OnlineStoreError(
                    f"row {total + bad} for {view.ref} has no column {exc.args[0]!r}",
                    hint=f"rows need {', '.join(needed)}",
                ) from exc
            cols[CREATED_AT] = [r.get(CREATED_AT) for r in batch]
            stats = self.write_columns(view, cols, created_at=ct_ms)
            total += stats.rows
            written += stats.written
            keyless += stats.keyless
        return WriteStats(total, written, keyless)

    write_bulk = write_columns  # the columnar path is the bulk path

    def _feature_names(self, view: FeatureView) -> tuple[str, ...]:
        if not view.features:
            raise OnlineStoreError(
                f"feature view {view.ref} has no features registered",
                hint="run 'featurestream apply' so the registry infers the view's output schema",
            )
        return tuple(view.feature_names)

    def _encode(
        self, view: FeatureView, cols: Mapping[str, Column], a: int, b: int, ct_ms: int
    ) -> tuple[pa.Array, pa.Array]:
        """The keys and compact rows (:func:`online.keys.encode_row`, :data:`WRITE_LUA`) of rows ``[a, b)``."""
        sl = {c: v.slice(a, b - a) if isinstance(v, pa.Array) else v[a:b] for c, v in cols.items()}
        prefix, suffix = key_parts(self.namespace, view.name, view.version)
        try:
            keys = pc.binary_join_element_wise(prefix, encode_entities([sl[e] for e in view.entities]), suffix, "")
            ft = pa.array(epoch_ms(sl[FEATURE_TIME], FEATURE_TIME, first_row=a)).cast(pa.string())
            ct = (
                pa.array(epoch_ms(sl[CREATED_AT], CREATED_AT, default=ct_ms, first_row=a)).cast(pa.string())
                if CREATED_AT in sl
                else pa.scalar(str(ct_ms))
            )
            blobs = encode_rows(ft, ct, [encode_values(sl[f]) for f in view.feature_names])
        except (ValueError, TypeError) as exc:
            raise OnlineStoreError(f"rows for {view.ref}: {exc}") from exc
        return keys, blobs

    def _commands(
        self, keys: pa.Array, blobs: pa.Array, header: bytes, nheader: int, script: tuple[bytes, bytes]
    ) -> tuple[bytes, int]:
        """The framed EVAL commands of rows in chunks of ``chunk_rows``, as one buffer."""
        fk, fb = frame(keys), frame(blobs)
        parts: list[bytes | memoryview] = []
        for s in range(0, len(fk), self.chunk_rows):
            e = min(len(fk), s + self.chunk_rows)
            head = command_head(3 + nheader + 2 * (e - s), *script, arg(e - s))
            parts += [head, fk.span(s, e), header, fb.span(s, e)]
        return b"".join(parts), len(parts) // 4

    def _batches(self, n: int, set_nx: bool) -> list[int]:
        """The bounds of the batches of ``n`` rows: ``chunk_rows * pipeline_chunks`` rows each; with
        ``set_nx`` the first is ``chunk_rows`` rows only, read before the next is sent, so a load
        over keys that mostly hold rows already (a re-run of ``materialize``) pays the ``SET NX``
        and the script for that one chunk, then goes to the script directly."""
        step = self.chunk_rows * self.pipeline_chunks
        first = self.chunk_rows if set_nx else step
        return [0, *range(min(first, n), n, step), n] if n else []

    def _write(
        self,
        view: FeatureView,
        cols: Mapping[str, Column],
        n: int,
        ct_ms: int,
        set_nx: bool,
        script: tuple[bytes, bytes],
    ) -> int:
        """Standalone: batches of ``chunk_rows * pipeline_chunks`` rows on one connection; batch
        ``k + 1`` is encoded and sent before batch ``k``'s replies are read. With ``set_nx`` a batch
        is sent as ``SET NX`` commands first and its rows that found their key held are sent on to
        :data:`WRITE_LUA` when its replies are read (after batch ``k + 1``'s ``SET NX``: a row of the
        same key there found it held too, so it follows them); once a batch's keys were mostly held,
        the later batches go to ``script`` directly, after every ``SET NX`` batch still unread. The
        first batch is read before anything else is sent (:meth:`_batches`)."""
        header, nheader = _header(view)
        nx_head, nx_tail = _set_nx(view)
        written = 0
        # per unread send, in send order: the keys and rows of a SET NX batch, or None for script calls
        sent: deque[tuple[pa.Array, pa.Array] | None] = deque()
        with Connection(self.client) as conn:  # type: ignore[arg-type]

            def settle() -> None:
                nonlocal written, set_nx
                probed = sent.popleft()
                if probed is None:
                    written += _count(conn.read())
                    return
                applied, held = _absent_written_lines(conn.read_lines(), conn.reply)
                written += applied
                if held:
                    keys, blobs = probed
                    idx = pa.array(held, pa.int32())
                    conn.send(*self._commands(keys.take(idx), blobs.take(idx), header, nheader, _WRITE))
                    sent.append(None)
                    set_nx = set_nx and 2 * len(held) <= len(keys)

            for a, b in pairwise(self._batches(n, set_nx)):
                keys, blobs = self._encode(view, cols, a, b, ct_ms)
                if set_nx:
                    cmds = commands(nx_head, [keys, blobs], nx_tail)
                    conn.send(cmds.span(0, len(cmds)), len(cmds))
                    sent.append((keys, blobs))
                else:
                    while any(p is not None for p in sent):  # every SET NX batch read (and sent on) first
                        settle()
                    conn.send(*self._commands(keys, blobs, header, nheader, script))
                    sent.append(None)
                for _ in range(len(sent) - (a > 0)):  # everything sent before this batch (the first: all)
                    settle()
            while sent:
                settle()
        return written

    def _write_cluster(
        self,
        view: FeatureView,
        cols: Mapping[str, Column],
        n: int,
        ct_ms: int,
        set_nx: bool,
        script: tuple[bytes, bytes],
    ) -> int:
        """Redis Cluster: each batch's rows grouped by slot (a script call touches one slot), chunks
        of ``chunk_rows`` rows of one slot, one pipeline per node (:mod:`online.cluster`). With
        ``set_nx`` a batch is first one ``SET NX`` per row (one pipeline per node), then the rows
        that found their key held go to :data:`WRITE_LUA` the same way; once a batch's keys were
        mostly held, the later batches go to ``script`` directly."""
        assert isinstance(self.client, RedisCluster)
        nx_head, nx_tail = _set_nx(view)
        written = 0
        for a, b in pairwise(self._batches(n, set_nx)):
            keys, blobs = self._encode(view, cols, a, b, ct_ms)
            slots = np.fromiter((key_slot(k.encode()) for k in keys.to_pylist()), dtype=np.int32, count=len(keys))
            if not set_nx:
                written += self._cluster_scripts(keys, blobs, slots, view, script)
                continue
            cmds = commands(nx_head, [keys, blobs], nx_tail)
            replies = eval_per_node(self.client, [(int(slots[i]), cmds.span(i, i + 1)) for i in range(len(cmds))])
            applied, held = _absent_written(replies)
            written += applied
            if held:
                idx = pa.array(held, pa.int32())
                written += self._cluster_scripts(keys.take(idx), blobs.take(idx), slots[held], view, _WRITE)
                set_nx = 2 * len(held) <= len(keys)
        return written

    def _cluster_scripts(
        self, keys: pa.Array, blobs: pa.Array, slots: np.ndarray, view: FeatureView, script: tuple[bytes, bytes]
    ) -> int:
        """Rows applied by ``script`` calls of rows grouped by slot (one slot per call, rows of one
        key in their order), one pipeline per node."""
        assert isinstance(self.client, RedisCluster)
        header, nheader = _header(view)
        order = np.argsort(slots, kind="stable")  # rows of one key keep their order
        slots = slots[order]
        fk, fb = frame(keys.take(order)), frame(blobs.take(order))
        starts = np.flatnonzero(np.diff(slots, prepend=-1))
        bounds = [*starts.tolist(), len(slots)]
        calls: list[tuple[int, bytes]] = []
        for s0, e0 in pairwise(bounds):
            for s in range(s0, e0, self.chunk_rows):
                e = min(e0, s + self.chunk_rows)
                head = command_head(3 + nheader + 2 * (e - s), *script, arg(e - s))
                calls.append((int(slots[s]), b"".join((head, fk.span(s, e), header, fb.span(s, e)))))
        return _count(eval_per_node(self.client, calls))

    # ------------------------------------------------------------------ reads

    def read(
        self, view: FeatureView, entities: Sequence[Sequence[Any]], features: Sequence[str] | None = None
    ) -> list[OnlineRow | None]:
        """The stored rows of ``view`` for each entity (values in the view's entity order), in one
        round trip. ``None`` where no row is stored. Values are returned as stored (no defaults).
        """
        keys = [entity_key(self.namespace, view.name, view.version, encode_entity(e)) for e in entities]
        return [row_of(view, r, features) for r in self.read_rows(keys)]

    def read_rows(self, keys: Sequence[str]) -> list[RowReply]:
        """The stored row of every key (:data:`online.keys.RowReply`, in order), in one round trip:
        :data:`READ_ROWS_LUA` on a standalone Redis; on a cluster one call of it per slot, all in one
        pipeline (one round trip per node).
        """
        if not keys:
            return []
        if self._cluster:
            calls, scatter = rows_per_slot(keys)
            pipe = self.client.pipeline()
            for ks in calls:
                pipe.execute_command("EVAL", READ_ROWS_LUA, len(ks), *ks)  # pipe.eval is not offered on a cluster
            return scatter(pipe.execute())
        if self._rows_sha is None:
            self._rows_sha = str(self.client.script_load(READ_ROWS_LUA))
        try:
            return list(self.client.evalsha(self._rows_sha, len(keys), *keys))  # type: ignore[arg-type]
        except redis.exceptions.NoScriptError:
            self._rows_sha = str(self.client.script_load(READ_ROWS_LUA))
            return list(self.client.evalsha(self._rows_sha, len(keys), *keys))  # type: ignore[arg-type]
