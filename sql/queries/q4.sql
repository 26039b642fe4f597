-- q4: average price per category, the average over each category's
-- closed auctions of their winning (highest) bid within the auction's
-- lifetime. nexmark-flink's text. The join of two append-only tables is
-- append-only, so MAX takes it; AVG then reads MAX's changelog (updates
-- retract the old maximum).
CREATE TABLE nexmark_q4 (
    id BIGINT,
    final BIGINT
) WITH ('connector' = 'blackhole');

INSERT INTO nexmark_q4
SELECT
    Q.category,
    AVG(Q.final)
FROM (
    SELECT MAX(B.price) AS final, A.category
    FROM auction A, bid B
    WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
    GROUP BY A.id, A.category
) Q
GROUP BY Q.category;
