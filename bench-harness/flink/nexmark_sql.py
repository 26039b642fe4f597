#!/usr/bin/env python3
"""Nexmark q3, q4, q5 and q8 in Apache Flink SQL (PyFlink, local MiniCluster), to run
side by side with `spate bench nexmark`.

One datagen table is the whole Nexmark event stream: event `seq` is a person when
seq % 50 == 0, an auction when it is 1..3 and a bid otherwise (Nexmark's 1:3:46), and
its event time is seq / 10 ms (10 M events per second of event time, as Spate's
generator). The views `person`, `auction` and `bid` select their events from it, so a
query reads every event, as in Spate and in nexmark-flink. Ids refer to what already
exists: a seller is an earlier person, a bid's auction one of the 100 newest auctions.

    python nexmark_sql.py --query q3 --par 2 --events 16000000 --json out.json

prints one JSON object (and writes it to --json): events, par, job_s (wall time of the
INSERT job), empty_s (the same job on one event, after a first one-event job has warmed
the JVM up: the fixed cost of a job), rss_mb (peak RSS of the
JVM). Events per second per core: events / (job_s - empty_s) / par.
"""
import argparse
import json
import os
import time

QUERIES = ("q3", "q4", "q5", "q8")


def events_ddl(events):
    return f"""
CREATE TEMPORARY TABLE events (
  seq BIGINT, r1 BIGINT, r2 BIGINT, r3 BIGINT,
  name STRING, url STRING, extra STRING,
  etype AS MOD(seq, 50),
  date_time AS TO_TIMESTAMP_LTZ(seq / 10, 3),
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH (
  'connector' = 'datagen',
  'rows-per-second' = '1000000000000',
  'fields.seq.kind' = 'sequence', 'fields.seq.start' = '0', 'fields.seq.end' = '{events - 1}',
  'fields.r1.min' = '0', 'fields.r1.max' = '1000000000',
  'fields.r2.min' = '0', 'fields.r2.max' = '1000000000',
  'fields.r3.min' = '0', 'fields.r3.max' = '1000000000',
  'fields.name.length' = '10', 'fields.url.length' = '40', 'fields.extra.length' = '16'
)"""


VIEWS = [
    """CREATE TEMPORARY VIEW person AS
  SELECT seq / 50 AS id, name, url AS city,
    CASE MOD(r1, 6) WHEN 0 THEN 'OR' WHEN 1 THEN 'ID' WHEN 2 THEN 'CA'
                    WHEN 3 THEN 'WA' WHEN 4 THEN 'AZ' ELSE 'WY' END AS state,
    date_time
  FROM events WHERE etype = 0""",
    """CREATE TEMPORARY VIEW auction AS
  SELECT (seq / 50) * 3 + etype - 1 AS id, MOD(r1, seq / 50 + 1) AS seller,
    10 + MOD(r2, 5) AS category, date_time,
    date_time + INTERVAL '10' SECOND AS expires
  FROM events WHERE etype BETWEEN 1 AND 3""",
    """CREATE TEMPORARY VIEW bid AS
  SELECT GREATEST((seq / 50) * 3 - 1 - MOD(r1, 100), 0) AS auction, r2 AS bidder,
    1 + MOD(r3, 100000) AS price, url, extra, date_time
  FROM events WHERE etype >= 4""",
]

# (sink columns, query) per query; the SQL follows the Nexmark queries of nexmark-flink.
SQL = {
    "q3": ("name STRING, city STRING, state STRING, id BIGINT",
           """SELECT P.name, P.city, P.state, A.id
  FROM auction AS A INNER JOIN person AS P ON A.seller = P.id
  WHERE A.category = 10 AND (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')"""),
    "q4": ("category BIGINT, avg_price BIGINT",
           """SELECT Q.category, AVG(Q.final) FROM (
    SELECT MAX(B.price) AS final, A.category
    FROM auction A, bid B
    WHERE A.id = B.auction AND B.date_time BETWEEN A.date_time AND A.expires
    GROUP BY A.id, A.category) Q
  GROUP BY Q.category"""),
    "q5": ("auction BIGINT, num BIGINT",
           """SELECT C.auction, C.num FROM (
    SELECT auction, COUNT(*) AS num, window_start, window_end
    FROM TABLE(HOP(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
    GROUP BY auction, window_start, window_end) C
  JOIN (
    SELECT MAX(num) AS maxn, window_start, window_end FROM (
      SELECT COUNT(*) AS num, window_start, window_end
      FROM TABLE(HOP(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
      GROUP BY auction, window_start, window_end)
    GROUP BY window_start, window_end) M
  ON C.window_start = M.window_start AND C.window_end = M.window_end AND C.num >= M.maxn"""),
    "q8": ("id BIGINT, name STRING, starttime TIMESTAMP(3)",
           """SELECT P.id, P.name, P.window_start FROM (
    SELECT id, name, window_start, window_end
    FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
    GROUP BY id, name, window_start, window_end) P
  JOIN (
    SELECT seller, window_start, window_end
    FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
    GROUP BY seller, window_start, window_end) A
  ON P.id = A.seller AND P.window_start = A.window_start AND P.window_end = A.window_end"""),
}


def run_job(query, par, events):
    """Builds a fresh table environment, runs the query over `events` events; seconds."""
    from pyflink.table import EnvironmentSettings, TableEnvironment
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = env.get_config()
    config.set("parallelism.default", str(par))
    config.set("table.local-time-zone", "UTC")
    env.execute_sql(events_ddl(events))
    for view in VIEWS:
        env.execute_sql(view)
    columns, select = SQL[query]
    env.execute_sql(f"CREATE TEMPORARY TABLE sink ({columns}) WITH ('connector' = 'blackhole')")
    start = time.monotonic()
    env.execute_sql(f"INSERT INTO sink {select}").wait()
    return time.monotonic() - start


def jvm_peak_rss_mb():
    """VmHWM of the gateway JVM (this process's java child), MiB."""
    me = os.getpid()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            if ppid != me or comm != "java":
                continue
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except (OSError, ValueError, IndexError):
            continue
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--query", required=True, choices=QUERIES)
    ap.add_argument("--par", type=int, default=1)
    ap.add_argument("--events", type=int, required=True)
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.events < 1 or a.par < 1:
        ap.error("--events and --par must be at least 1")
    # The first job also loads and compiles Flink's classes: not part of the fixed cost.
    run_job(a.query, a.par, 1)
    empty_s = run_job(a.query, a.par, 1)
    job_s = run_job(a.query, a.par, a.events)
    result = {"query": a.query, "par": a.par, "events": a.events, "rows": a.events,
              "job_s": job_s, "empty_s": empty_s, "rss_mb": jvm_peak_rss_mb()}
    line = json.dumps(result)
    print(line, flush=True)
    if a.json:
        with open(a.json, "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
