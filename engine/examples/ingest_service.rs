//! An HTTP service that embeds Spate: it takes JSON events, keeps a session
//! window per user (a session closes after 30 s of event time without
//! events), and serves the latest finished session of each user.
//!
//! ```text
//! cargo run --release --example ingest_service -- [ADDR]     # default 127.0.0.1:3000
//! curl -XPOST localhost:3000/events -d '[{"user":"ann","ts_ms":1000,"amount":5}]'
//! curl localhost:3000/sessions            # every user's latest session
//! curl localhost:3000/sessions/ann        # one user's
//! ```
//!
//! `POST /events` takes one event object or an array of them and answers
//! `202 Accepted` once they are queued (it waits while the job is
//! saturated: backpressure reaches the HTTP client). Ctrl-C stops taking
//! requests, then shuts the engine down, which closes every open session.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use spate::DataStream;
use spate::config::{Config, ConfigSources};
use spate::embed::{EmbedError, Engine, EngineBuilder, Ingest};
use spate::time::WatermarkStrategy;
use spate::window::{EventTimeSessionWindows, TimeWindow, WindowCollector};

/// One posted event.
#[derive(
    Debug,
    Clone,
    serde::Deserialize,
    spate::rkyv::Archive,
    spate::rkyv::Serialize,
    spate::rkyv::Deserialize,
)]
#[rkyv(crate = spate::rkyv)]
pub struct Event {
    /// User id.
    pub user: String,
    /// Event time, ms.
    pub ts_ms: i64,
    /// What the event is worth (e.g. cents spent).
    pub amount: u64,
}

/// A finished session of one user.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    /// User id.
    pub user: String,
    /// First event, ms.
    pub start_ms: i64,
    /// Last event plus the gap, ms.
    pub end_ms: i64,
    /// Events in the session.
    pub events: usize,
    /// Sum of their amounts.
    pub total: u64,
}

/// The event-time gap that ends a session.
pub const GAP_MS: u64 = 30_000;
/// How far out of order events may arrive, ms.
pub const OUT_OF_ORDER_MS: u64 = 1_000;
/// Events one request may carry.
pub const EVENTS_PER_REQUEST_MAX: usize = 10_000;

/// The latest finished session per user, written by the engine's callback.
pub type Latest = Arc<Mutex<BTreeMap<String, Session>>>;

/// The job: per user, event-time sessions with their count and total.
fn sessions(events: DataStream<Event>) -> DataStream<Session> {
    events
        .assign_timestamps_and_watermarks(WatermarkStrategy::bounded_out_of_orderness(
            OUT_OF_ORDER_MS,
            |e: &Event| e.ts_ms,
        ))
        .key_by(|e: &Event| e.user.clone())
        .window(EventTimeSessionWindows::with_gap(GAP_MS))
        .process(
            |user: &String,
             w: &TimeWindow,
             events: &[Event],
             out: &mut WindowCollector<'_, Session>| {
                out.collect(Session {
                    user: user.clone(),
                    start_ms: w.start,
                    end_ms: w.end,
                    events: events.len(),
                    total: events.iter().map(|e| e.amount).sum(),
                });
                Ok(())
            },
        )
}

/// Starts the engine; finished sessions land in the returned map.
pub fn start_engine(config: Config) -> Result<(Engine<Event>, Latest), EmbedError> {
    let latest: Latest = Arc::default();
    let sink = latest.clone();
    let engine = EngineBuilder::new("ingest service")
        .config(config)
        .start_with_callback(sessions, move |s: Session| {
            let mut map = sink.lock().unwrap_or_else(|p| p.into_inner());
            // Sessions of one user close in event-time order.
            map.insert(s.user.clone(), s);
        })?;
    Ok((engine, latest))
}

#[derive(Clone)]
struct AppState {
    ingest: Ingest<Event>,
    latest: Latest,
}

/// The service's routes.
pub fn router(ingest: Ingest<Event>, latest: Latest) -> Router {
    Router::new()
        .route("/events", post(post_events))
        .route("/sessions", get(all_sessions))
        .route("/sessions/{user}", get(user_session))
        .with_state(AppState { ingest, latest })
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// Parses one event object or an array of them; the error names the
/// event and what is wrong with it.
fn parse_events(body: &[u8]) -> Result<Vec<Event>, String> {
    const SHAPE: &str = r#"{"user":string,"ts_ms":int,"amount":int}"#;
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let parse = |v: serde_json::Value| serde_json::from_value::<Event>(v);
    match value {
        serde_json::Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| parse(v).map_err(|e| format!("event {i}: {e}; expected {SHAPE}")))
            .collect(),
        v => parse(v)
            .map(|e| vec![e])
            .map_err(|e| format!("the event: {e}; expected {SHAPE} or an array of them")),
    }
}

async fn post_events(State(app): State<AppState>, body: axum::body::Bytes) -> Response {
    let events = match parse_events(&body) {
        Ok(events) => events,
        Err(reason) => return error(StatusCode::BAD_REQUEST, reason),
    };
    if events.len() > EVENTS_PER_REQUEST_MAX {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} events in one request; at most {EVENTS_PER_REQUEST_MAX}",
                events.len()
            ),
        );
    }
    let n = events.len();
    match app.ingest.send_batch(events).await {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "accepted": n })),
        )
            .into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

async fn all_sessions(State(app): State<AppState>) -> Json<BTreeMap<String, Session>> {
    Json(app.latest.lock().unwrap_or_else(|p| p.into_inner()).clone())
}

async fn user_session(State(app): State<AppState>, Path(user): Path<String>) -> Response {
    let found = app
        .latest
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&user)
        .cloned();
    match found {
        Some(s) => Json(s).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("no finished session of user `{user}` yet"),
        ),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let loaded = Config::load(&ConfigSources {
        profile: Some("low-latency".into()),
        file: None,
        // One core keeps one watermark; the web server has the others.
        overrides: vec!["runtime.cores=1".into()],
    })?;
    let (engine, latest) = start_engine(loaded.config)?;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("listening on http://{addr}");
    axum::serve(listener, router(engine.ingest(), latest.clone()))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    let result = engine.shutdown().await?;
    eprintln!(
        "stopped: {} events in, {} sessions out",
        result.metrics.source_records,
        result.metrics.sink_records()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    fn test_config() -> Config {
        let mut c = Config::default();
        c.runtime.cores = 1;
        c.runtime.io_memory_kib = 256;
        c.runtime.pin_cores = false;
        c
    }

    async fn call(app: &Router, req: Request<Body>) -> (StatusCode, serde_json::Value) {
        let resp = app.clone().oneshot(req).await.expect("the router answers");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("a body");
        (status, serde_json::from_slice(&bytes).expect("a JSON body"))
    }

    fn post(body: &str) -> Request<Body> {
        Request::post("/events")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("a request")
    }

    fn get(path: &str) -> Request<Body> {
        Request::get(path).body(Body::empty()).expect("a request")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn posted_events_come_back_as_sessions() {
        let (engine, latest) = start_engine(test_config()).expect("engine starts");
        let app = router(engine.ingest(), latest);

        let (status, body) = call(
            &app,
            post(
                r#"[{"user":"ann","ts_ms":1000,"amount":5},
                    {"user":"bob","ts_ms":1500,"amount":1},
                    {"user":"ann","ts_ms":2000,"amount":7}]"#,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(body["accepted"], 3);
        let (status, body) = call(&app, get("/sessions/ann")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "the session is still open");
        assert!(body["error"].as_str().unwrap_or("").contains("ann"));

        // A later event moves event time past both sessions' ends.
        let (status, _) = call(&app, post(r#"{"user":"cy","ts_ms":100000,"amount":2}"#)).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let mut ann = None;
        for _ in 0..2000 {
            let (status, body) = call(&app, get("/sessions/ann")).await;
            if status == StatusCode::OK {
                ann = Some(body);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let ann: Session =
            serde_json::from_value(ann.expect("ann's session closed")).expect("a session");
        let gap = GAP_MS as i64;
        assert_eq!(
            ann,
            Session {
                user: "ann".into(),
                start_ms: 1000,
                end_ms: 2000 + gap,
                events: 2,
                total: 12
            }
        );
        let (_, all) = call(&app, get("/sessions")).await;
        assert_eq!(all["bob"]["total"], 1);
        assert!(all.get("cy").is_none(), "cy's session is still open");

        // Bad input gets a clear status and sentence; the engine stays up.
        let (status, body) = call(&app, post(r#"{"user":"ann","ts_ms":"soon"}"#)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let reason = body["error"].as_str().unwrap_or("");
        assert!(reason.starts_with("the event: invalid type"), "{body}");
        let (status, _) = call(&app, post(r#"{"user":"cy","ts_ms":100500,"amount":3}"#)).await;
        assert_eq!(status, StatusCode::ACCEPTED);

        // Shutdown closes the open sessions.
        let result = engine.shutdown().await.expect("shutdown");
        assert_eq!(result.metrics.source_records, 5);
        let (_, all) = call(&app, get("/sessions")).await;
        assert_eq!(all["cy"]["events"], 2);
        assert_eq!(all["cy"]["total"], 5);
        // The ingest is closed now: posting says so.
        let (status, body) = call(&app, post(r#"{"user":"dee","ts_ms":1,"amount":1}"#)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            body["error"]
                .as_str()
                .unwrap_or("")
                .contains("takes no more records")
        );
    }
}
