//! Planning a Nexmark query (parse, bind, rules) takes well under the
//! issue's 50 ms, even in a debug build.

use std::time::Duration;

use spate_sql::Session;

mod common;
use common::{config, nexmark_ddl, query_file};

#[test]
fn nexmark_queries_plan_in_under_50_ms() {
    let mut session = Session::new(config(1));
    session.execute(&nexmark_ddl(1000)).expect("DDL");
    for q in ["q0", "q1", "q2", "q5_counts"] {
        let text = query_file(&format!("{q}.sql"));
        // The file creates its sink table, then inserts: create, then plan the INSERT alone.
        let (create, insert) = text.split_once("INSERT INTO").expect("an INSERT");
        session.execute(create).expect("sink DDL");
        let best = (0..5)
            .map(|_| {
                session
                    .plan_statement(&format!("INSERT INTO{insert}"))
                    .expect("plans")
                    .planning
            })
            .min()
            .unwrap_or(Duration::MAX);
        eprintln!("{q}: planned in {best:?}");
        assert!(best < Duration::from_millis(50), "{q} took {best:?}");
    }
}
