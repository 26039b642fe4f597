//! The Nexmark queries written in SQL (`sql/queries/`), for the benchmark
//! (`spate bench nexmark --sql`) and the tests that compare them with the
//! hand-written DataStream versions.

/// The DDL of the `person`, `auction` and `bid` tables over Spate's
/// generator, 10 million events each.
pub const DDL: &str = include_str!("../queries/nexmark_ddl.sql");

/// The queries written in SQL so far, by name.
pub const QUERIES: &[&str] = &["q0", "q1", "q2", "q3", "q5", "q7", "q8"];

/// Queries beyond q8 written in SQL so far: no hand-written DataStream
/// version to run beside them; their tests compute the expected rows from
/// the events themselves.
pub const SQL_ONLY_QUERIES: &[&str] = &["q18", "q19"];

/// The text of `query` (its sink table's DDL and its `INSERT INTO`), if it
/// is written in SQL yet.
pub fn query(name: &str) -> Option<&'static str> {
    match name {
        "q0" => Some(include_str!("../queries/q0.sql")),
        "q1" => Some(include_str!("../queries/q1.sql")),
        "q2" => Some(include_str!("../queries/q2.sql")),
        "q3" => Some(include_str!("../queries/q3.sql")),
        "q5" => Some(include_str!("../queries/q5.sql")),
        "q7" => Some(include_str!("../queries/q7.sql")),
        "q8" => Some(include_str!("../queries/q8.sql")),
        "q18" => Some(include_str!("../queries/q18.sql")),
        "q19" => Some(include_str!("../queries/q19.sql")),
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
        assert!(query("q9").is_none());
        let ddl = ddl(1234);
        assert_eq!(ddl.matches("'events.num' = '1234'").count(), 3);
        assert!(!ddl.contains("10000000"));
    }
}
