-- q13: a bounded side input joined to the bid stream (stream enrichment):
-- a lookup join, each bid looking up the row of `side_input` whose key is
-- its auction modulo 10000. The table keeps nexmark-flink's legacy
-- connector options; `${NEXMARK_DIR}/data/side_input.txt` holds its rows
-- (nexmark-flink writes 10000 lines `i,i`).
CREATE TABLE side_input (
    key BIGINT,
    `value` VARCHAR
) WITH (
    'connector.type' = 'filesystem',
    'connector.path' = 'file://${NEXMARK_DIR}/data/side_input.txt',
    'format.type' = 'csv'
);

CREATE TABLE nexmark_q13 (
    auction BIGINT,
    bidder BIGINT,
    price BIGINT,
    `dateTime` TIMESTAMP(3),
    `value` VARCHAR
) WITH ('connector' = 'blackhole');

INSERT INTO nexmark_q13
SELECT
    B.auction,
    B.bidder,
    B.price,
    B.`dateTime`,
    S.`value`
FROM (SELECT *, PROCTIME() AS p_time FROM bid) B
JOIN side_input FOR SYSTEM_TIME AS OF B.p_time AS S
ON mod(B.auction, 10000) = S.key;
