//! A small blocking HTTP client for the orchestrators' REST APIs (the
//! Kubernetes API server, the YARN ResourceManager).
//!
//! The coordinator runs on plain threads and [`super::ResourceLauncher`] is
//! synchronous, while reqwest is async: each client owns a current-thread
//! tokio runtime and blocks on one request at a time. Launchers call it
//! rarely (when workers are missing, and at shutdown), so one runtime thread
//! per launcher, parked between calls, is the whole cost.

use std::time::Duration;

use reqwest::{Certificate, Method};

/// Bytes of a response body read at most: the answers the launchers parse
/// (a Pod, a Status, a pod list of one cluster, a service status) are far
/// smaller, and a runaway body must not grow the coordinator's memory.
pub const RESPONSE_BYTES_MAX: usize = 4 << 20;

/// An HTTP answer: its status code and (bounded) body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The body, cut at [`RESPONSE_BYTES_MAX`].
    pub body: Vec<u8>,
}

impl Reply {
    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body parsed as JSON, or `Null` when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The status code and its reason phrase, e.g. `403 Forbidden`.
    pub fn status_line(&self) -> String {
        let reason = reqwest::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        format!("{} {reason}", self.status).trim_end().to_string()
    }
}

/// One blocking client: a reqwest client and the runtime it runs on.
pub struct RestClient {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl RestClient {
    /// A client whose requests time out after `request_timeout_ms`; with
    /// `ca_pem`, servers are trusted only if that CA signed their
    /// certificate (an in-cluster API server's CA is the cluster's own).
    pub fn new(request_timeout_ms: u64, ca_pem: Option<&[u8]>) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the HTTP client's runtime: {e}"))?;
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_millis(request_timeout_ms))
            // Calls are minutes apart: an idle pooled connection would
            // mostly be one the server has closed in between.
            .pool_max_idle_per_host(0);
        if let Some(pem) = ca_pem {
            let ca = Certificate::from_pem(pem)
                .map_err(|e| format!("the CA certificate is not valid PEM: {e}"))?;
            builder = builder.tls_certs_only([ca]);
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { runtime, client })
    }

    /// Sends one request and reads its answer. `Err` is a sentence: the
    /// server could not be reached or did not answer in time.
    pub fn call(
        &self,
        method: Method,
        url: &str,
        bearer: Option<&str>,
        json_body: Option<&serde_json::Value>,
    ) -> Result<Reply, String> {
        let mut request = self
            .client
            .request(method.clone(), url)
            .header("Accept", "application/json");
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = json_body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        self.runtime.block_on(async move {
            let mut response = request
                .send()
                .await
                .map_err(|e| format!("{method} {url} got no answer: {}", chain(&e)))?;
            let status = response.status().as_u16();
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| format!("{method} {url}: reading the answer failed: {}", chain(&e)))?
            {
                let room = RESPONSE_BYTES_MAX.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() >= RESPONSE_BYTES_MAX {
                    break;
                }
            }
            Ok(Reply { status, body })
        })
    }
}

/// An error and its causes in one line: reqwest's own message ("error
/// sending request") says nothing without the cause (connection refused).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Percent-encodes a query parameter's value (RFC 3986 unreserved kept).
pub fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
