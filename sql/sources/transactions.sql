-- topic: transactions
-- event_id: event_id
-- format: json
-- description: Card transactions from the payment gateway.
CREATE TABLE transactions (
    event_id STRING NOT NULL,
    card_id STRING NOT NULL,
    merchant_id STRING,
    amount DOUBLE NOT NULL,
    event_time TIMESTAMP_LTZ(3) NOT NULL,
    WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND
);
