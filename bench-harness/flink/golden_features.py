#!/usr/bin/env python3
"""The SQL features tested on the golden files (sql/tests/over_aggregations_in_event_time.rs,
top_n_and_deduplication.rs, joins_on_bounded_files.rs (outer window joins too),
session_windows_span_their_partition.rs, including the late click that the join
beside each window's maximum must still pair) run on Apache Flink 2.3: it prints the
rows each query leaves, to set beside the rows those tests expect. Run it with the Python of
the Flink peer's venv (JAVA_HOME set), as bench-harness/flink/run does. `views` is quoted:
Flink 2 reserves the word.
"""
from pyflink.table import EnvironmentSettings, TableEnvironment
from pyflink.common import RowKind
import collections
env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
env.get_config().set("parallelism.default", "1")
import os
g = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "sql", "tests", "golden")
env.execute_sql(f"CREATE TABLE clicks (user_name STRING, url STRING, amount BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '2' SECOND) WITH ('connector'='filesystem','path'='{g}/clicks.csv','format'='csv')")
env.execute_sql(f"CREATE TABLE `views` (user_name STRING, page STRING, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '2' SECOND) WITH ('connector'='filesystem','path'='{g}/views.csv','format'='csv')")
env.execute_sql(f"CREATE TABLE rows_t (id STRING, k STRING, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '2' SECOND) WITH ('connector'='filesystem','path'='{g}/interval_late.csv','format'='csv')")
qs = {
 "interval_late": "SELECT a.id, b.id FROM rows_t a JOIN rows_t b ON a.k = b.k AND b.ts BETWEEN a.ts AND a.ts + INTERVAL '3' SECOND AND a.id <> b.id",
 "rows1": "SELECT user_name, amount, SUM(amount) OVER (PARTITION BY user_name ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM clicks WHERE user_name <> 'dave'",
 "range5": "SELECT user_name, amount, SUM(amount) OVER (PARTITION BY user_name ORDER BY ts RANGE BETWEEN INTERVAL '5' SECOND PRECEDING AND CURRENT ROW) FROM clicks WHERE user_name <> 'dave'",
 "running": "SELECT amount, SUM(amount) OVER (ORDER BY ts) FROM clicks WHERE user_name <> 'dave'",
 "top2": "SELECT * FROM (SELECT user_name, total, ROW_NUMBER() OVER (ORDER BY total DESC) AS rn FROM (SELECT user_name, SUM(amount) AS total FROM clicks GROUP BY user_name)) WHERE rn <= 2",
 "interval": "SELECT c.user_name, c.url, v.page FROM clicks c JOIN `views` v ON c.user_name = v.user_name AND v.ts BETWEEN c.ts AND c.ts + INTERVAL '3' SECOND",
 "window_max": "SELECT c.user_name, c.url, c.amount, w.top FROM clicks AS c JOIN (SELECT url, MAX(amount) AS top, window_start, window_end FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY url, window_start, window_end) AS w ON c.url = w.url WHERE c.ts >= w.window_start AND c.ts < w.window_end",
}
# joins_on_bounded_files.rs, outer_interval_joins_pad_a_row_once_its_interval_has_passed
for kind in ["LEFT", "RIGHT", "FULL"]:
    qs["outer_interval_" + kind.lower()] = (
        f"SELECT COALESCE(c.user_name, v.user_name), c.url, v.page FROM clicks c {kind} JOIN `views` v "
        "ON c.user_name = v.user_name AND v.ts BETWEEN c.ts AND c.ts + INTERVAL '3' SECOND")
# joins_on_bounded_files.rs, outer_window_joins_pad_unmatched_rows_when_their_window_closes
for kind in ["LEFT", "RIGHT", "FULL"]:
    qs["outer_window_" + kind.lower()] = (
        "SELECT COALESCE(l.user_name, r.user_name), COALESCE(l.window_start, r.window_start), l.clicks, r.spent FROM "
        "(SELECT user_name, window_start, window_end, COUNT(*) AS clicks FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '10' SECOND)) "
        "WHERE url = '/home' GROUP BY user_name, window_start, window_end) AS l "
        f"{kind} JOIN "
        "(SELECT user_name, window_start, window_end, SUM(amount) AS spent FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '10' SECOND)) "
        "WHERE url <> '/home' GROUP BY user_name, window_start, window_end) AS r "
        "ON l.user_name = r.user_name AND l.window_start = r.window_start AND l.window_end = r.window_end")
# session_windows_span_their_partition.rs: without PARTITION BY a session spans all rows
for name, part, key, gap in [("session_all", "", "user_name", 5), ("session_all_nokey", "", "", 5),
                             ("session_user", " PARTITION BY user_name", "user_name", 5),
                             ("session_url", " PARTITION BY (url)", "url", 4)]:
    keys = f"{key}, " if key else ""
    sums = ", SUM(amount)" if key != "url" else ""
    qs[name] = (f"SELECT {keys}window_start, window_end, COUNT(*){sums} FROM TABLE(SESSION(TABLE clicks{part}, "
                f"DESCRIPTOR(ts), INTERVAL '{gap}' SECOND)) GROUP BY {keys}window_start, window_end")
for name, part in [("session_rows_all", ""), ("session_rows_user", " PARTITION BY user_name")]:
    qs[name] = (f"SELECT user_name, amount, window_start, window_end FROM TABLE(SESSION(TABLE clicks{part}, "
                "DESCRIPTOR(ts), INTERVAL '5' SECOND))")
for name, q in qs.items():
    t = collections.Counter()
    with env.execute_sql(q).collect() as rs:
        for r in rs:
            k = r.get_row_kind()
            t[tuple(r)] += 1 if k in (RowKind.INSERT, RowKind.UPDATE_AFTER) else -1
    print(name, sorted(str(list(k)) for k, n in t.items() if n > 0 for _ in range(n)))
