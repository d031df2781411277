-- name: card_spend_today
-- version: 1
-- entities: card_id
-- ttl: 1d
-- freshness_sla: 15m
-- owner: risk@example.com
-- description: Card spend so far today (UTC), updated every 10 minutes (cumulating window).
-- defaults: spend_today=0.0, txn_count_today=0
-- tags: team=risk
SELECT
    card_id,
    window_end AS feature_time,
    SUM(amount) AS spend_today,
    COUNT(*) AS txn_count_today
FROM TABLE(
    CUMULATE(TABLE transactions, DESCRIPTOR(event_time), INTERVAL '10' MINUTE, INTERVAL '1' DAY)
)
GROUP BY
    card_id,
    window_start,
    window_end
