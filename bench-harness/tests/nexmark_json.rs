//! JSON-lines event files: round trip, format and error reporting.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use std::io::Cursor;
use std::path::PathBuf;

use spate_bench::nexmark::{
    Event, EventFileReader, Generator, GeneratorConfig, NexmarkError, read_events_jsonl,
    write_events_jsonl, write_events_jsonl_to,
};

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("nexmark-{}-{name}", std::process::id()))
}

fn generated(n: u64) -> Vec<Event> {
    let cfg = GeneratorConfig {
        events_max: Some(n),
        ..GeneratorConfig::default()
    };
    Generator::new(cfg, 0, 1).expect("generator").collect()
}

#[test]
fn generated_events_round_trip_through_a_file() {
    let events = generated(5_000);
    let path = tmp("roundtrip.jsonl");
    write_events_jsonl(&path, &events).unwrap();
    assert_eq!(read_events_jsonl(&path).unwrap(), events);
    let streamed: Vec<Event> = EventFileReader::open(&path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(streamed, events);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn one_tagged_object_per_line() {
    let events = generated(5);
    let mut out = Vec::new();
    write_events_jsonl_to(&mut out, &events).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5);
    assert!(
        lines[0].starts_with(r#"{"person":{"id":1000,"name":""#),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with(r#"{"auction":{"id":1000,"item_name":""#));
    assert!(lines[4].starts_with(r#"{"bid":{"auction":"#));
    for field in ["bidder", "price", "channel", "url", "date_time", "extra"] {
        assert!(lines[4].contains(&format!("\"{field}\":")), "{field}");
    }
}

#[test]
fn bad_lines_are_reported_with_their_line_number() {
    let good = r#"{"bid":{"auction":1,"bidder":2,"price":3,"channel":"c","url":"u","date_time":4,"extra":""}}"#;
    let mut input =
        format!("{good}\n\n  \n{{\"bid\":{{\"auction\":1}}}}\nnot json\n{good}\r\n").into_bytes();
    input.extend_from_slice(b"\xff\n");
    let mut reader = EventFileReader::new(Cursor::new(input), "mem.jsonl");
    assert!(matches!(reader.next(), Some(Ok(Event::Bid(_)))));
    // Blank lines are skipped; the missing fields are on line 4.
    match reader.next() {
        Some(Err(NexmarkError::BadLine { path, line, reason })) => {
            assert_eq!((path, line), (PathBuf::from("mem.jsonl"), 4));
            assert!(reason.contains("missing field"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        reader.next(),
        Some(Err(NexmarkError::BadLine { line: 5, .. }))
    ));
    // Reading goes on after a bad line; CRLF is fine.
    assert!(matches!(reader.next(), Some(Ok(Event::Bid(_)))));
    assert_eq!(reader.line_number(), 6);
    // Invalid UTF-8 is a bad line, not a panic.
    assert!(matches!(
        reader.next(),
        Some(Err(NexmarkError::BadLine { line: 7, .. }))
    ));
    assert!(reader.next().is_none());
}

#[test]
fn read_stops_at_the_first_error() {
    let path = tmp("bad.jsonl");
    std::fs::write(&path, "{\"person\":{}}\n").unwrap();
    let err = read_events_jsonl(&path).unwrap_err();
    assert!(matches!(err, NexmarkError::BadLine { line: 1, .. }));
    assert!(err.to_string().contains("bad.jsonl:1:"), "{err}");
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(
        read_events_jsonl(&path),
        Err(NexmarkError::Io { .. })
    ));
}

#[test]
fn the_readme_examples_parse() {
    let readme = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/nexmark/README.md");
    let text = std::fs::read_to_string(readme).unwrap();
    let examples: String = text
        .lines()
        .filter(|l| l.starts_with("{\""))
        .map(|l| format!("{l}\n"))
        .collect();
    let events: Vec<Event> = EventFileReader::new(Cursor::new(examples), "README.md")
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(events.len(), 3);
}
