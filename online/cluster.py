"""Running a multi-key script on Redis Cluster: calls grouped per node, one pipeline per node.

The rule it owns: on a cluster a Lua script may touch keys of ONE slot only, so every call handed
here must already hold keys of one slot (:func:`online.scripts.split_by_slot` does the split).
The calls are grouped by the master that owns their slot and each master's calls go out as one
pipeline: one round trip per node, whatever the number of slots. redis-py's cluster pipeline
refuses EVALSHA, so each node's own client (from the cluster client's pool) runs its pipeline.

When the topology moved under us (MOVED/ASK, a failover, a node that went away) the slot map is
refreshed and the whole batch sent once more; that is safe because the online writer's script is
idempotent (a replayed row is a no-op). Callers must not pass non-idempotent scripts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.exceptions import AskError, ClusterDownError, MovedError, NoScriptError, TryAgainError

__all__ = ["evalsha_per_node"]

_TOPOLOGY_ERRORS = (MovedError, AskError, TryAgainError, ClusterDownError, redis.ConnectionError)


def _node_pipeline(
    conn: redis.Redis, sha: str, script: str, calls: Sequence[tuple[Sequence[str], Sequence[Any]]]
) -> list[Any]:
    for attempt in (0, 1):
        pipe = conn.pipeline(transaction=False)
        for keys, argv in calls:
            pipe.evalsha(sha, len(keys), *keys, *argv)
        try:
            return list(pipe.execute())
        except NoScriptError:
            if attempt:
                raise
            conn.script_load(script)  # this node restarted or flushed its scripts
    raise AssertionError("unreachable")


def evalsha_per_node(
    client: RedisCluster, script: str, calls: Sequence[tuple[Sequence[str], Sequence[Any]]]
) -> list[Any]:
    """The replies of ``EVALSHA script`` for each ``(keys, argv)`` call, in call order.

    Every call's keys must share one slot (see the module rule); an empty call list costs nothing.
    """
    sha = hashlib.sha1(script.encode()).hexdigest()
    for attempt in (0, 1):
        by_node: dict[str, tuple[redis.Redis, list[int]]] = {}
        for i, (keys, _) in enumerate(calls):
            node = client.get_node_from_key(keys[0])
            entry = by_node.get(node.name)
            if entry is None:
                entry = by_node[node.name] = (client.get_redis_connection(node), [])
            entry[1].append(i)
        replies: list[Any] = [None] * len(calls)
        try:
            for conn, positions in by_node.values():
                for i, reply in zip(
                    positions, _node_pipeline(conn, sha, script, [calls[i] for i in positions]), strict=True
                ):
                    replies[i] = reply
            return replies
        except _TOPOLOGY_ERRORS:
            if attempt:
                raise
            client.nodes_manager.initialize()  # re-read the slot map, then resend (idempotent)
    raise AssertionError("unreachable")
