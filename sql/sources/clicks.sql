-- topic: clicks
-- event_id: event_id
-- format: json
-- description: Item clicks from the web and app front ends.
CREATE TABLE clicks (
    event_id STRING NOT NULL,
    user_id STRING NOT NULL,
    item_id STRING,
    amount DOUBLE,
    event_time TIMESTAMP_LTZ(3) NOT NULL,
    WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND
);
