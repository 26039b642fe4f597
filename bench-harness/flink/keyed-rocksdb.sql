-- Flink peer's keyed-rocksdb query (flink-peer, flink_bench.py), DDL and query
-- unchanged, with the SETs of its configuration, for `spate sql -f`. See
-- bench-harness/results/2026-12-06-keyed-rocksdb-checkpoints-vs-flink.md.
SET 'state.backend.type' = 'rocksdb';
SET 'execution.checkpointing.num-retained' = '1';
SET 'execution.checkpointing.interval' = '10s';
SET 'execution.checkpointing.incremental' = 'true';
SET 'execution.checkpointing.dir' = 'file:///tmp/spate-keyed-rocksdb-checkpoints';
CREATE TEMPORARY TABLE bid (
  auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
  date_time TIMESTAMP(3), extra STRING
) WITH (
  'connector' = 'datagen',
  'number-of-rows' = '12000000',
  'rows-per-second' = '100000000000',
  'fields.auction.kind' = 'random', 'fields.auction.min' = '1', 'fields.auction.max' = '10000',
  'fields.bidder.kind' = 'random', 'fields.bidder.min' = '1', 'fields.bidder.max' = '1000000',
  'fields.price.kind' = 'random', 'fields.price.min' = '1', 'fields.price.max' = '100000',
  'fields.channel.length' = '8',
  'fields.url.length' = '40',
  'fields.extra.length' = '16'
);
CREATE TEMPORARY TABLE sink (bidder BIGINT, cnt BIGINT, sum_price BIGINT,
   PRIMARY KEY (bidder) NOT ENFORCED) WITH ('connector'='blackhole');
INSERT INTO sink SELECT bidder, COUNT(*), SUM(price) FROM bid GROUP BY bidder;
