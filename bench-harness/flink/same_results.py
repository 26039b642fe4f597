#!/usr/bin/env python3
"""Runs Spate's Nexmark SQL queries (sql/queries/qN.sql, nexmark-flink's text) on Apache
Flink and on Spate over the same bounded input, and compares the rows each leaves.

The input is Spate's Nexmark generator written once to CSV files (one file per table, by a
one-core `spate sql` statement set), so both engines read the very same events, in the same
order, with the same 4 s watermark delay. Flink runs in streaming mode (local MiniCluster);
both results are changelogs, applied to a table of rows before comparing. Doubles compare to
1e-9 relative; timestamps as `yyyy-MM-dd HH:mm:ss.SSS`.

    bench-harness/flink/run-same-results --spate target/release/spate --events 20000 \
        --queries q0,q1,q2,q11,q15 --out results.md

q14's `count_char` is a Java UDF in nexmark-flink; Flink gets the same function as a
Python UDF here, Spate its built-in stand-in.
"""
import argparse
import collections
import datetime
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUERIES_DIR = os.path.join(ROOT, "sql", "queries")

COLUMNS = {
    "person": "id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, "
              "state VARCHAR, dateTime TIMESTAMP(3), extra VARCHAR",
    "auction": "id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, "
               "dateTime TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR",
    "bid": "auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, "
           "dateTime TIMESTAMP(3), extra VARCHAR",
}


def run_spate(spate, script, cores):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
        path = f.name
    try:
        out = subprocess.run(
            [spate, "sql", "-f", path, "--set", f"runtime.cores={cores}"],
            capture_output=True, text=True, check=False)
    finally:
        os.unlink(path)
    if out.returncode != 0:
        raise RuntimeError(f"spate failed: {out.stderr.strip()}")
    return out.stdout


def export_csv(spate, events, rate, work):
    """Writes the three tables' rows to work/<table>/ (one part file each)."""
    ddl = open(os.path.join(QUERIES_DIR, "nexmark_ddl.sql")).read().replace(
        "'events.num' = '10000000'",
        f"'next-event.rate' = '{rate}', 'events.num' = '{events}'")
    sinks, inserts = [], []
    for t in COLUMNS:
        cols = re.sub(r",\s*$", "", COLUMNS[t])
        sinks.append(f"CREATE TABLE {t}_csv ({cols}) WITH ('connector' = 'filesystem', "
                     f"'path' = '{os.path.join(work, t)}', 'format' = 'csv');")
        inserts.append(f"INSERT INTO {t}_csv SELECT * FROM {t};")
    script = "\n".join([ddl] + sinks + ["EXECUTE STATEMENT SET BEGIN"] + inserts + ["END;"])
    run_spate(spate, script, 1)
    files = {}
    for t in COLUMNS:
        parts = [p for p in sorted(os.listdir(os.path.join(work, t))) if not p.startswith((".", "_"))]
        nonempty = [p for p in parts if os.path.getsize(os.path.join(work, t, p)) > 0]
        if len(nonempty) != 1:
            raise RuntimeError(f"expected one part file of {t}, found {parts}")
        files[t] = os.path.join(work, t, nonempty[0])
    return files


def csv_ddl(files):
    out = []
    for t, cols in COLUMNS.items():
        out.append(quote_datetime(
            f"CREATE TABLE {t} ({cols}, WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND) "
            f"WITH ('connector' = 'filesystem', 'path' = '{files[t]}', 'format' = 'csv')"))
    return out


def quote_datetime(sql):
    """`dateTime` backquoted: Flink 2 no longer takes it bare (nexmark-flink wrote it for
    Flink 1), and Spate reads it either way, so both engines get the same text."""
    return re.sub(r"(?<![`\w])dateTime(?![`\w])", "`dateTime`", sql)


def query_select(name):
    """The query file's statements but its sink table, with the INSERT INTO taken off."""
    text = open(os.path.join(QUERIES_DIR, f"{name}.sql")).read()
    text = "\n".join(l for l in text.splitlines() if not l.strip().startswith("--"))
    stmts = [s.strip() for s in text.split(";") if s.strip()]
    sink = f"nexmark_{name}"
    keep = []
    for s in stmts:
        if re.match(rf"CREATE TABLE {sink}\b", s):
            continue
        keep.append(quote_datetime(re.sub(rf"^INSERT INTO {sink}\s+", "", s)))
    return keep


def norm(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, datetime.datetime):
        ms = v.microsecond // 1000
        s = v.strftime("%Y-%m-%d %H:%M:%S")
        return f"{s}.{ms:03d}"
    if isinstance(v, float):
        return v
    try:
        import decimal
        if isinstance(v, decimal.Decimal):
            return float(v)
    except ImportError:
        pass
    return v if isinstance(v, (int, str)) else str(v)


def spate_cell(c):
    if c == "NULL":
        return None
    if re.fullmatch(r"-?\d+", c):
        return int(c)
    if re.fullmatch(r"-?\d+\.\d*(e-?\d+)?|-?\d+e-?\d+|NaN|-?inf", c):
        return float(c)
    return c


# Queries whose result Flink writes as upserts (no UPDATE_BEFORE) to the collect sink,
# with the columns of their unique key: q9's Top-1 per auction without the row number.
UPSERT_KEYS = {"q9": (0,)}


def materialize_upserts(changes, key):
    table = {}
    for add, row in changes:
        k = tuple(row[i] for i in key)
        if add:
            table[k] = row
        else:
            table.pop(k, None)
    return collections.Counter(table.values())


def materialize(changes):
    table = collections.Counter()
    for add, row in changes:
        table[row] += 1 if add else -1
    return {r: n for r, n in table.items() if n != 0}


def spate_rows(stdout, columns):
    changes = []
    for line in stdout.splitlines():
        m = re.match(r"^([+-][IUD])\[(.*)\]$", line)
        if not m:
            continue
        cells = m.group(2).split(", ")
        if len(cells) != columns:
            raise RuntimeError(f"cannot split Spate's row into {columns} cells: {line}")
        changes.append((m.group(1) in ("+I", "+U"), tuple(spate_cell(c) for c in cells)))
    return materialize(changes)


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        try:
            x, y = float(a), float(b)
        except (TypeError, ValueError):
            return False
        return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)
    # Spate's printed cells carry no type: a string of digits reads as a number.
    return (a is None and b is None) or (a is not None and b is not None and str(a) == str(b))


def rows_equal(x, y):
    if len(x) != len(y):
        return False
    key = lambda r: tuple((0, "") if v is None else (1, str(round(v, 6)) if isinstance(v, float) else str(v)) for v in r)
    xs = sorted(((r, n) for r, n in x.items()), key=lambda p: key(p[0]))
    ys = sorted(((r, n) for r, n in y.items()), key=lambda p: key(p[0]))
    return all(n == m and len(r) == len(s) and all(same(a, b) for a, b in zip(r, s))
               for (r, n), (s, m) in zip(xs, ys))


def flink_env(par):
    from pyflink.table import EnvironmentSettings, TableEnvironment
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = env.get_config()
    conf.set("parallelism.default", str(par))
    conf.set("table.local-time-zone", "UTC")
    return env


KINDS = collections.Counter()


def flink_rows(env, stmts, upsert_key=None):
    from pyflink.common import RowKind
    from pyflink.table.udf import udf
    from pyflink.table import DataTypes

    for s in stmts[:-1]:
        if re.match(r"CREATE FUNCTION count_char\b", s, re.I):
            count_char = udf(lambda s, c: sum(1 for x in (s or "") if x == c[0]),
                             result_type=DataTypes.BIGINT())
            env.create_temporary_function("count_char", count_char)
            continue
        env.execute_sql(s)
    changes = []
    with env.execute_sql(stmts[-1]).collect() as results:
        for r in results:
            kind = r.get_row_kind()
            KINDS[str(kind)] += 1
            add = kind in (RowKind.INSERT, RowKind.UPDATE_AFTER)
            changes.append((add, tuple(norm(v) for v in r)))
    if upsert_key is not None:
        return dict(materialize_upserts(changes, upsert_key))
    return materialize(changes)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spate", required=True)
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--rate", type=int, default=500, help="events per second of event time")
    ap.add_argument("--queries", default="q0,q1,q2,q11,q14,q15,q16,q17,q20,q21,q22")
    ap.add_argument("--par", type=int, default=2)
    ap.add_argument("--out")
    ap.add_argument("--dump", help="a directory for each engine's rows, one file per query")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="spate-flink-same-")
    files = export_csv(args.spate, args.events, args.rate, work)
    ddl = csv_ddl(files)
    report = []
    all_equal = True
    for q in args.queries.split(","):
        stmts = query_select(q)
        t0 = time.time()
        env = flink_env(args.par)
        for s in ddl:
            env.execute_sql(s)
        KINDS.clear()
        flink = flink_rows(env, stmts, UPSERT_KEYS.get(q))
        flink_s = time.time() - t0
        columns = len(next(iter(flink))) if flink else 0
        spate_script = ";\n".join(ddl + stmts) + ";\n"
        t0 = time.time()
        spate = spate_rows(run_spate(args.spate, spate_script, args.par), columns) if columns else {}
        spate_s = time.time() - t0
        equal = bool(flink) and rows_equal(spate, flink)
        if args.dump:
            os.makedirs(args.dump, exist_ok=True)
            for engine, rows in (("flink", flink), ("spate", spate)):
                with open(os.path.join(args.dump, f"{q}.{engine}.txt"), "w") as f:
                    for r, n in sorted(rows.items(), key=lambda p: [str(v) for v in p[0]]):
                        f.write(f"{n} x {' | '.join(map(str, r))}\n")
        all_equal &= equal
        line = {"query": q, "flink_rows": sum(flink.values()), "spate_rows": sum(spate.values()),
                "equal": equal, "flink_s": round(flink_s, 1), "spate_s": round(spate_s, 1),
                "flink_changes": dict(KINDS)}
        if not equal:
            only_f = [r for r in flink if r not in spate][:3]
            only_s = [r for r in spate if r not in flink][:3]
            line["only_flink"] = [list(map(str, r)) for r in only_f]
            line["only_spate"] = [list(map(str, r)) for r in only_s]
        print(json.dumps(line), flush=True)
        report.append(line)
    md = ["| query | rows (Flink) | rows (Spate) | same rows |", "|---|---|---|---|"]
    for r in report:
        md.append(f"| {r['query']} | {r['flink_rows']} | {r['spate_rows']} | {'yes' if r['equal'] else 'NO'} |")
    text = (f"Spate vs Apache Flink 2.3 (streaming mode, parallelism {args.par}) on {args.events} "
            f"Nexmark events ({args.rate} per second of event time) read from the same CSV files; "
            f"{datetime.date.today().isoformat()}.\n\n" + "\n".join(md) + "\n")
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        meta = {"date": datetime.date.today().isoformat(), "commit": commit,
                "machine": os.uname().nodename, "cpus": os.cpu_count(),
                "events": args.events, "rate": args.rate, "par": args.par, "result": report}
        with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
            json.dump(meta, f, indent=1)
    print(text)
    sys.exit(0 if all_equal else 1)


if __name__ == "__main__":
    main()
