-- name: user_clicks_10m
-- version: 1
-- entities: user_id
-- ttl: 2h
-- freshness_sla: 2m
-- owner: growth@example.com
-- description: Clicks and click value per user in the last 10 minutes, sliding every minute.
-- defaults: clicks_10m=0, amount_10m=0.0, distinct_items_10m=0
-- tags: team=growth, tier=1
SELECT
    user_id,
    window_end AS feature_time,
    COUNT(*) AS clicks_10m,
    SUM(amount) AS amount_10m,
    COUNT(DISTINCT item_id) AS distinct_items_10m
FROM TABLE(
    HOP(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '1' MINUTE, INTERVAL '10' MINUTE)
)
GROUP BY
    user_id,
    window_start,
    window_end
