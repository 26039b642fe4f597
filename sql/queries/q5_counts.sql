-- The first stage of q5 (hot items): bids per auction in each 10 s hopping
-- window sliding by 2 s (q5.sql joins these with each window's maximum).
CREATE TABLE nexmark_q5_counts (
    auction BIGINT,
    num BIGINT,
    window_start TIMESTAMP(3),
    window_end TIMESTAMP(3)
) WITH ('connector' = 'blackhole');

INSERT INTO nexmark_q5_counts
SELECT auction, COUNT(*) AS num, window_start, window_end
FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
GROUP BY auction, window_start, window_end;
