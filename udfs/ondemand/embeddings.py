"""Request-time similarity between embeddings."""

from __future__ import annotations

from collections.abc import Sequence

from featurestream.ondemand import on_demand

__all__ = ["embedding_dot"]


@on_demand(
    name="embedding_dot",
    inputs=["user_embedding", "item_embedding"],
    dtype="DOUBLE",
    default=0.0,
    budget_ms=5,
    cache_ttl_s=60,
)
def embedding_dot(user_embedding: Sequence[float], item_embedding: Sequence[float]) -> float:
    """Dot product of a user and an item embedding of equal length."""
    if len(user_embedding) != len(item_embedding):
        raise ValueError(f"embedding lengths differ: {len(user_embedding)} != {len(item_embedding)}")
    return float(sum(float(a) * float(b) for a, b in zip(user_embedding, item_embedding, strict=True)))
