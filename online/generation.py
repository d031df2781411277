"""The online store's generation marker: how a reader tells an empty store from one that lost its data.

Whoever fills the store from the start (``jobs submit`` of a job that starts from the topic, not
from a checkpoint; ``materialize`` before it loads the offline rows) writes
:data:`~featurestream.online.keys.GENERATION_KEY` once (``SET NX``, no expiry); it is never
rewritten while it exists. A store that loses its data (a restart without
its append-only file, a flush, a failover to an empty replica) loses the marker with it, and
``/readyz`` reports not-ready until ``materialize`` has filled the store again (a job that keeps
running, or resumes from its checkpoint, rewrites only the entities it sees next, so it does not
clear the flag). One marker per store: on a Redis Cluster it lives on one node.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from featurestream.online.keys import GENERATION_KEY

__all__ = ["GENERATION_KEY", "ensure_generation", "new_generation"]


def new_generation() -> str:
    """A fresh marker value: when it was written and a random part (never equal across stores)."""
    return f"{int(time.time() * 1000)}-{uuid.uuid4().hex[:12]}"


def ensure_generation(client: Any) -> str:
    """Write the marker unless present (sync redis-py client, standalone or cluster); returns its value."""
    client.set(GENERATION_KEY, new_generation(), nx=True)
    value = client.get(GENERATION_KEY)
    return value.decode() if isinstance(value, bytes) else str(value)
