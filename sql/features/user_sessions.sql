-- name: user_sessions
-- version: 1
-- entities: user_id
-- ttl: 1d
-- freshness_sla: 30m
-- owner: growth@example.com
-- description: Per-user click session stats; a session closes after 15 minutes without clicks.
-- defaults: session_clicks=0, session_amount=0.0, session_minutes=0.0
-- tags: team=growth
SELECT
    user_id,
    window_end AS feature_time,
    COUNT(*) AS session_clicks,
    SUM(amount) AS session_amount,
    CAST(TIMESTAMPDIFF(SECOND, window_start, window_end) AS DOUBLE) / 60.0 AS session_minutes
FROM TABLE(
    SESSION(TABLE clicks PARTITION BY user_id, DESCRIPTOR(event_time), INTERVAL '15' MINUTE)
)
GROUP BY
    user_id,
    window_start,
    window_end
