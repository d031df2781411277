"""Running a multi-key script on Redis Cluster: calls grouped per node, one pipeline per node.

The rule it owns: on a cluster a Lua script may touch keys of ONE slot only, so every call handed
here names the one slot its keys live in (the writer groups rows by slot). The calls are grouped by
the master that owns their slot and each master's calls go out as one pipeline, all masters first
sent then read: one round trip per node, whatever the number of slots. redis-py's cluster pipeline
refuses scripts, so each node's own client (from the cluster client's pool) carries its pipeline,
framed by :mod:`online.resp`.

When the topology moved under us (MOVED/ASK, a failover, a node that went away) the slot map is
refreshed and the calls that failed are sent once more; that is safe because the online writer's
commands are idempotent: a replayed script call is a no-op, and a replayed ``SET key row NX`` (the
bulk load's probe) answers nil, so its row goes through the script as a tie. Callers must not pass
non-idempotent commands. Every call answers a one-line reply (:class:`online.resp.Connection`).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.exceptions import AskError, ClusterDownError, MovedError, SlotNotCoveredError, TryAgainError

from featurestream.online.resp import Connection

__all__ = ["eval_per_node"]

_TOPOLOGY_REPLIES = (MovedError, AskError, TryAgainError, ClusterDownError)
_UNREAD = object()  # a reply not read yet (None is a reply: SET NX's nil)


def _node_pipeline(conn: Connection, calls: Sequence[bytes | memoryview]) -> None:
    """Send one node's calls as one pipeline (their replies are read after every node was sent)."""
    conn.send(b"".join(calls), len(calls))


def eval_per_node(client: RedisCluster, calls: Sequence[tuple[int, bytes | memoryview]]) -> list[Any]:
    """The replies of framed ``calls`` (``(slot, framed command)``, one command each), in call order.

    Error replies other than topology moves are returned as their exceptions; a node that cannot be
    reached twice raises. An empty call list costs nothing.
    """
    replies: list[Any] = [_UNREAD] * len(calls)
    todo = list(range(len(calls)))
    for attempt in (0, 1):
        failed: list[int] = []
        error: BaseException | None = None
        try:
            by_node: dict[str, tuple[Any, list[int]]] = {}
            for i in todo:
                node = client.nodes_manager.get_node_from_slot(calls[i][0])
                by_node.setdefault(node.name, (node, []))[1].append(i)
        except SlotNotCoveredError as exc:
            by_node, failed, error = {}, list(todo), exc
        with ExitStack() as stack:
            sent: list[tuple[Connection, list[int]]] = []
            for node, positions in by_node.values():
                try:
                    conn = stack.enter_context(Connection(client.get_redis_connection(node)))
                    _node_pipeline(conn, [calls[i][1] for i in positions])
                    sent.append((conn, positions))
                except (redis.ConnectionError, redis.TimeoutError) as exc:
                    failed += positions
                    error = exc
            for conn, positions in sent:
                try:
                    for i, reply in zip(positions, conn.read(), strict=True):
                        if isinstance(reply, _TOPOLOGY_REPLIES):
                            failed.append(i)
                            error = reply
                        else:
                            replies[i] = reply
                except (redis.ConnectionError, redis.TimeoutError) as exc:
                    failed += [i for i in positions if replies[i] is _UNREAD]
                    error = exc
        if not failed:
            return replies
        if attempt:
            assert error is not None
            raise error
        client.nodes_manager.initialize()  # re-read the slot map, then resend what failed (idempotent)
        todo = sorted(failed)
    raise AssertionError("unreachable")
