-- q0: pass-through. Every column of bid, so the rows equal the DataStream
-- q0's `Bid` records (nexmark-flink's q0 selects all but channel and url).
CREATE TABLE nexmark_q0 (
    auction BIGINT,
    bidder BIGINT,
    price BIGINT,
    channel VARCHAR,
    url VARCHAR,
    dateTime TIMESTAMP(3),
    extra VARCHAR
) WITH ('connector' = 'blackhole');

INSERT INTO nexmark_q0
SELECT auction, bidder, price, channel, url, dateTime, extra FROM bid;
