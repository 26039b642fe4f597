//! The Nexmark queries written in SQL (`sql/queries/`), for the benchmark
//! (`spate bench nexmark --sql`) and the tests that compare them with the
//! hand-written DataStream versions.

/// The DDL of the `person`, `auction` and `bid` tables over Spate's
/// generator, 10 million events each.
pub const DDL: &str = include_str!("../queries/nexmark_ddl.sql");

/// The settings nexmark-flink runs its queries with (its Flink
/// configuration): mini-batch group aggregation, which folds a group's
/// changes per batch and splits aggregates into a local and a global phase
/// ([`crate::mini_batch`]). Only the intermediate updates of group
/// aggregates (q4's) change; the rows each query leaves do not.
pub const SETTINGS: &str = "SET 'table.exec.mini-batch.enabled' = 'true';\n\
SET 'table.exec.mini-batch.allow-latency' = '2s';\n\
SET 'table.exec.mini-batch.size' = '50000';\n";

/// The queries written in SQL whose output equals their hand-written
/// DataStream version's, by name.
pub const QUERIES: &[&str] = &["q0", "q1", "q2", "q3", "q5", "q7", "q8"];

/// The other queries written in SQL (nexmark-flink's text), whose tests
/// compute the expected rows from the events themselves: those beyond q8,
/// which have no DataStream version, and q4, whose SQL means something
/// else than its DataStream version (an integer average over every
/// auction's best bid, updated through a changelog, against running
/// averages over closed auctions).
pub const SQL_ONLY_QUERIES: &[&str] = &[
    "q4", "q9", "q11", "q12", "q14", "q15", "q16", "q17", "q18", "q19", "q20", "q21", "q22",
];

/// True when `query`'s SQL writes what its DataStream version writes.
pub fn same_output_as_datastream(query: &str) -> bool {
    QUERIES.contains(&query)
}

/// The text of `query` (its sink table's DDL and its `INSERT INTO`), if it
/// is written in SQL yet.
pub fn query(name: &str) -> Option<&'static str> {
    match name {
        "q0" => Some(include_str!("../queries/q0.sql")),
        "q1" => Some(include_str!("../queries/q1.sql")),
        "q2" => Some(include_str!("../queries/q2.sql")),
        "q3" => Some(include_str!("../queries/q3.sql")),
        "q4" => Some(include_str!("../queries/q4.sql")),
        "q5" => Some(include_str!("../queries/q5.sql")),
        "q7" => Some(include_str!("../queries/q7.sql")),
        "q8" => Some(include_str!("../queries/q8.sql")),
        "q9" => Some(include_str!("../queries/q9.sql")),
        "q11" => Some(include_str!("../queries/q11.sql")),
        "q12" => Some(include_str!("../queries/q12.sql")),
        "q14" => Some(include_str!("../queries/q14.sql")),
        "q15" => Some(include_str!("../queries/q15.sql")),
        "q16" => Some(include_str!("../queries/q16.sql")),
        "q17" => Some(include_str!("../queries/q17.sql")),
        "q18" => Some(include_str!("../queries/q18.sql")),
        "q19" => Some(include_str!("../queries/q19.sql")),
        "q20" => Some(include_str!("../queries/q20.sql")),
        "q21" => Some(include_str!("../queries/q21.sql")),
        "q22" => Some(include_str!("../queries/q22.sql")),
        _ => None,
    }
}

/// [`DDL`] with `events` events per table instead of 10 million.
pub fn ddl(events: u64) -> String {
    DDL.replace(
        "'events.num' = '10000000'",
        &format!("'events.num' = '{events}'"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_query_has_its_text_and_the_event_count_is_replaced() {
        for q in QUERIES.iter().chain(SQL_ONLY_QUERIES) {
            let text = query(q).unwrap_or_default();
            assert!(text.contains("INSERT INTO"), "{q}");
        }
        assert!(query("q6").is_none());
        assert!(!same_output_as_datastream("q4"));
        assert!(same_output_as_datastream("q5"));
        let ddl = ddl(1234);
        assert_eq!(ddl.matches("'events.num' = '1234'").count(), 3);
        assert!(!ddl.contains("10000000"));
    }
}
