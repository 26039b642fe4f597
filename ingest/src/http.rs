//! `POST /v1/ingest`: JSON lines over HTTP.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::de::DeserializeOwned;
use spate::embed::Ingest;
use tokio::net::TcpListener;

use crate::auth::token_ok;
use crate::config::IngestConfig;
use crate::error::IngestError;
use crate::lines::take_batch;
use crate::stats::{IngestStats, Refusal};

struct Shared<T> {
    ingest: Ingest<T>,
    config: IngestConfig,
    stats: Arc<IngestStats>,
}

/// The endpoint as an axum router, to serve alone ([`serve_http`]) or
/// merged into the application's own.
pub fn http_router<T>(
    ingest: Ingest<T>,
    config: IngestConfig,
    stats: Arc<IngestStats>,
) -> Result<Router, IngestError>
where
    T: DeserializeOwned + Send + 'static,
{
    config.validate()?;
    let body_bytes_max = config.batch_bytes_max;
    let shared = Arc::new(Shared {
        ingest,
        config,
        stats,
    });
    Ok(Router::new()
        .route("/v1/ingest", post(ingest_batch::<T>))
        .layer(DefaultBodyLimit::max(body_bytes_max))
        .with_state(shared))
}

/// Serves [`http_router`] on `listener` until the future is dropped.
pub async fn serve_http<T>(
    listener: TcpListener,
    ingest: Ingest<T>,
    config: IngestConfig,
    stats: Arc<IngestStats>,
) -> Result<(), IngestError>
where
    T: DeserializeOwned + Send + 'static,
{
    let router = http_router(ingest, config, stats)?;
    axum::serve(listener, router)
        .await
        .map_err(|source| IngestError::Io {
            endpoint: "HTTP",
            source,
        })
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn refuse<T>(shared: &Shared<T>, why: Refusal, status: StatusCode, reason: &str) -> Response {
    shared.stats.refused(why);
    answer(status, serde_json::json!({ "error": reason }))
}

fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get(header::AUTHORIZATION)?
        .as_bytes()
        .strip_prefix(b"Bearer ")
}

async fn ingest_batch<T>(
    State(shared): State<Arc<Shared<T>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response
where
    T: DeserializeOwned + Send + 'static,
{
    if !token_ok(shared.config.token.as_deref(), bearer(&headers)) {
        return refuse(
            &shared,
            Refusal::Unauthenticated,
            StatusCode::UNAUTHORIZED,
            "this endpoint needs `Authorization: Bearer <token>` with the configured token",
        );
    }
    let body = match body {
        Ok(b) => b,
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let reason = format!(
                "the batch is over {} bytes; nothing of it was ingested, split it into smaller batches",
                shared.config.batch_bytes_max
            );
            return refuse(&shared, Refusal::Oversized, r.status(), &reason);
        }
        Err(r) => {
            let reason = format!("the request body could not be read: {}", r.body_text());
            return refuse(&shared, Refusal::Malformed, r.status(), &reason);
        }
    };
    let records_max = shared.config.batch_records_max;
    let acked = match take_batch(&shared.ingest, records_max, &body).await {
        Ok(taken) => taken.durable(&shared.stats).await,
        Err(refused) => Err(refused),
    };
    match acked {
        Ok(n) => answer(StatusCode::OK, serde_json::json!({ "accepted": n })),
        Err((why, reason)) => {
            let status = match why {
                Refusal::Oversized => StatusCode::PAYLOAD_TOO_LARGE,
                Refusal::Unavailable | Refusal::NotDurable => StatusCode::SERVICE_UNAVAILABLE,
                Refusal::Malformed | Refusal::Unauthenticated => StatusCode::BAD_REQUEST,
            };
            refuse(&shared, why, status, &reason)
        }
    }
}
