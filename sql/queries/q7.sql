-- q7: highest bid, the bids at the highest price of each 10 s tumbling
-- window. nexmark-flink's join of the bids with each window's maximum, with
-- the window written as [start, end) where nexmark-flink has BETWEEN (which
-- also takes a bid at exactly the window's end, the next window's first
-- millisecond), and the columns in the DataStream version's order.
CREATE TABLE nexmark_q7 (
    auction BIGINT,
    bidder BIGINT,
    price BIGINT,
    dateTime TIMESTAMP(3),
    extra VARCHAR
) WITH ('connector' = 'blackhole');

INSERT INTO nexmark_q7
SELECT B.auction, B.bidder, B.price, B.dateTime, B.extra
FROM bid B
JOIN (
    SELECT MAX(price) AS maxprice, window_start AS starttime, window_end AS endtime
    FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
    GROUP BY window_start, window_end
) B1
ON B.price = B1.maxprice
WHERE B.dateTime >= B1.starttime AND B.dateTime < B1.endtime;
