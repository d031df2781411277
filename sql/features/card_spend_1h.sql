-- name: card_spend_1h
-- version: 1
-- entities: card_id
-- ttl: 1d
-- freshness_sla: 5m
-- owner: risk@example.com
-- description: Card spend, transaction count and largest amount per hour (tumbling).
-- defaults: spend_1h=0.0, txn_count_1h=0, max_amount_1h=0.0
-- tags: team=risk, tier=1
SELECT
    card_id,
    window_end AS feature_time,
    SUM(amount) AS spend_1h,
    COUNT(*) AS txn_count_1h,
    MAX(amount) AS max_amount_1h
FROM TABLE(
    TUMBLE(TABLE transactions, DESCRIPTOR(event_time), INTERVAL '1' HOUR)
)
GROUP BY
    card_id,
    window_start,
    window_end
