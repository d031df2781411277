"""Request-time features of the card-fraud model."""

from __future__ import annotations

from featurestream.ondemand import on_demand

__all__ = ["amount_over_avg_spend"]


@on_demand(
    name="amount_over_avg_spend",
    inputs=["amount", "card_spend_1h:spend_1h", "card_spend_1h:txn_count_1h"],
    dtype="DOUBLE",
    default=0.0,
    budget_ms=5,
    cache_ttl_s=0,
)
def amount_over_avg_spend(amount: float, spend_1h: float, txn_count_1h: int) -> float:
    """This transaction's amount divided by the card's average transaction amount in the last hour."""
    if not txn_count_1h or not spend_1h:
        return 0.0
    return float(amount) / (float(spend_1h) / float(txn_count_1h))
