//! OVER aggregations on the golden clicks, against results worked out by
//! hand: ROWS and RANGE frames, bounded and unbounded, each row with the
//! aggregates over the rows before it in event time; and the errors for an
//! order that is not the time attribute. Dave's click is out of order by
//! more than the watermark delay, so whether it is late depends on how the
//! cores interleave: the queries leave him out.

use spate_sql::Session;

mod common;
use common::{clicks_and_users_ddl, config, error_after, run_select, sorted_lines};

fn rows(cores: u32, sql: &str) -> Vec<String> {
    let mut s = Session::new(config(cores));
    sorted_lines(&run_select(&mut s, &format!("{}{sql}", clicks_and_users_ddl())).0)
}

fn check(sql: &str, want: &[&str]) {
    for cores in [1, 2] {
        assert_eq!(rows(cores, sql), want, "{cores} cores: {sql}");
    }
}

/// SUM and COUNT over the row before and the current one, per user.
const ONE_PRECEDING: [&str; 7] = [
    "+I[alice, 10, 10, 1]",
    "+I[alice, 30, 35, 2]",
    "+I[alice, 5, 15, 2]",
    "+I[bob, 1, 21, 2]",
    "+I[bob, 20, 20, 1]",
    "+I[carol, 7, 7, 1]",
    "+I[carol, 8, 15, 2]",
];

#[test]
fn rows_frames_cover_the_rows_before_each_row() {
    // alice 10 (1 s), 5 (4 s), 30 (15 s); bob 20 (2 s), 1 (12 s); carol 7, 8.
    check(
        "SELECT user_name, amount, \
           SUM(amount) OVER (PARTITION BY user_name ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW), \
           COUNT(*) OVER (PARTITION BY user_name ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) \
         FROM clicks WHERE user_name <> 'dave';",
        &ONE_PRECEDING,
    );
    check(
        "SELECT user_name, amount, MAX(amount) OVER (PARTITION BY user_name ORDER BY ts \
           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) \
         FROM clicks WHERE user_name <> 'dave';",
        &[
            "+I[alice, 10, 10]",
            "+I[alice, 30, 30]",
            "+I[alice, 5, 10]",
            "+I[bob, 1, 20]",
            "+I[bob, 20, 20]",
            "+I[carol, 7, 7]",
            "+I[carol, 8, 8]",
        ],
    );
}

#[test]
fn range_frames_cover_a_time_span_and_default_to_everything_before() {
    check(
        "SELECT user_name, amount, SUM(amount) OVER (PARTITION BY user_name ORDER BY ts \
           RANGE BETWEEN INTERVAL '5' SECOND PRECEDING AND CURRENT ROW) \
         FROM clicks WHERE user_name <> 'dave';",
        &[
            "+I[alice, 10, 10]",
            "+I[alice, 30, 30]",
            "+I[alice, 5, 15]",
            "+I[bob, 1, 1]",
            "+I[bob, 20, 20]",
            "+I[carol, 7, 7]",
            "+I[carol, 8, 8]",
        ],
    );
    // No frame: RANGE UNBOUNDED PRECEDING. One partition: every click so far.
    check(
        "SELECT amount, SUM(amount) OVER (ORDER BY ts) AS running \
         FROM clicks WHERE user_name <> 'dave';",
        &[
            "+I[1, 43]",
            "+I[10, 10]",
            "+I[20, 30]",
            "+I[30, 73]",
            "+I[5, 35]",
            "+I[7, 42]",
            "+I[8, 81]",
        ],
    );
}

#[test]
fn an_over_aggregation_needs_the_time_order_and_one_window() {
    let order = error_after(
        &clicks_and_users_ddl(),
        "SELECT SUM(amount) OVER (PARTITION BY user_name ORDER BY amount) FROM clicks;",
    )
    .to_string();
    assert!(
        order.contains("ordered by the time attribute, ascending; expected ORDER BY `ts`"),
        "{order}"
    );
    let two = error_after(
        &clicks_and_users_ddl(),
        "SELECT SUM(amount) OVER (ORDER BY ts), COUNT(*) OVER (PARTITION BY url ORDER BY ts) FROM clicks;",
    )
    .to_string();
    assert!(two.contains("OVER windows that differ"), "{two}");
}

#[test]
fn a_named_window_is_the_window_written_inline() {
    // The first query of rows_frames_cover_the_rows_before_each_row, with
    // its window named once (also through a second name).
    check(
        "SELECT user_name, amount, SUM(amount) OVER w, COUNT(*) OVER w \
         FROM clicks WHERE user_name <> 'dave' \
         WINDOW w AS (PARTITION BY user_name ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW);",
        &ONE_PRECEDING,
    );
    check(
        "SELECT user_name, amount, SUM(amount) OVER v, COUNT(*) OVER w \
         FROM clicks WHERE user_name <> 'dave' \
         WINDOW w AS (PARTITION BY user_name ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW), \
                v AS w;",
        &ONE_PRECEDING,
    );
    let e = error_after(
        &clicks_and_users_ddl(),
        "SELECT SUM(amount) OVER x FROM clicks WINDOW w AS (ORDER BY ts);",
    )
    .to_string();
    assert!(
        e.contains("line 1, column 8: unknown window `x`; the WINDOW clause defines: w"),
        "{e}"
    );
}
