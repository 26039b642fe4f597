//! Workers as YARN containers, through the YARN Services REST API of the
//! ResourceManager (Hadoop 3.1+).
//!
//! Getting containers from YARN directly needs an ApplicationMaster that
//! speaks the AM-RM protocol (Hadoop RPC), which has no REST form. The
//! Services API is YARN's own generic ApplicationMaster driven over REST:
//! the launcher creates one service with a `worker` component
//! (`POST /app/v1/services`), sets its container count when more workers
//! are needed (`PUT /app/v1/services/{name}/components/worker`) and
//! destroys it when the coordinator stops (`DELETE /app/v1/services/{name}`).

use std::net::SocketAddr;

use reqwest::Method;
use serde_json::{Value, json};

use super::ResourceLauncher;
use super::rest::{Reply, RestClient, query_escape};
use crate::error::{ClusterError, Result};

/// The component that holds the workers.
pub const WORKER_COMPONENT: &str = "worker";

/// How to reach the ResourceManager.
#[derive(Debug, Clone)]
pub struct YarnRm {
    /// Its web address, e.g. `http://rm.example:8088`.
    pub url: String,
    /// The user for simple (pseudo) authentication, sent as `user.name`;
    /// `None` on a cluster that needs none. Kerberos (SPNEGO) is not
    /// supported.
    pub user: Option<String>,
}

/// What the worker containers look like.
#[derive(Debug, Clone)]
pub struct YarnWorkers {
    /// The YARN service's name (lowercase letters, digits, `-`).
    pub service: String,
    /// The queue, or the cluster's default.
    pub queue: Option<String>,
    /// A Docker image with `spate`; `None`: `spate` on the nodes' PATH.
    pub image: Option<String>,
    /// `--cores` of each worker; also its vcores.
    pub cores_per_worker: u32,
    /// Memory of each container, in MiB.
    pub memory_mib: u32,
    /// The address workers dial, `HOST:PORT`; `None`: the coordinator's.
    pub advertise: Option<String>,
    /// Each REST request's time limit.
    pub request_timeout_ms: u64,
}

/// Launches workers as the containers of one YARN service.
pub struct YarnLauncher {
    rm: YarnRm,
    workers: YarnWorkers,
    client: RestClient,
    /// Whether the service exists (created and not destroyed).
    created: bool,
    /// Containers asked for since the service was created.
    containers: u32,
}

impl YarnLauncher {
    /// A launcher; checks the settings before any request is made.
    pub fn new(rm: YarnRm, workers: YarnWorkers) -> Result<Self> {
        let name_ok = !workers.service.is_empty()
            && workers.service.len() <= 63
            && workers
                .service
                .starts_with(|c: char| c.is_ascii_lowercase())
            && workers
                .service
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            return Err(ClusterError::Invalid {
                reason: format!(
                    "the YARN service name `{}` is not valid: lowercase letters, digits and `-`, starting with a letter, at most 63",
                    workers.service
                ),
            });
        }
        if workers.cores_per_worker == 0 || workers.memory_mib == 0 {
            return Err(ClusterError::Invalid {
                reason: "a worker container needs at least one core and some memory".into(),
            });
        }
        let client = RestClient::new(workers.request_timeout_ms, None)
            .map_err(|reason| ClusterError::Invalid { reason })?;
        Ok(Self {
            rm,
            workers,
            client,
            created: false,
            containers: 0,
        })
    }

    /// Containers asked for so far.
    pub fn containers(&self) -> u32 {
        self.containers
    }

    fn url(&self, path: &str) -> String {
        let base = format!(
            "{}/app/v1/services{path}",
            self.rm.url.trim_end_matches('/')
        );
        match &self.rm.user {
            Some(u) => format!("{base}?user.name={}", query_escape(u)),
            None => base,
        }
    }

    /// The service object (Yarnfile) with `containers` workers dialing
    /// `coordinator`.
    pub fn service_spec(&self, coordinator: &str, containers: u32) -> Value {
        let w = &self.workers;
        let mut service = json!({
            "name": w.service,
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Spate workers, launched by the coordinator at ".to_string() + coordinator,
            "components": [{
                "name": WORKER_COMPONENT,
                "number_of_containers": containers,
                // The coordinator replaces lost workers itself; YARN
                // restarting them too would start two for one.
                "restart_policy": "NEVER",
                // The container's own address for the data links.
                "launch_command": format!(
                    "spate worker --coordinator {coordinator} --cores {} --data-host $(hostname -i)",
                    w.cores_per_worker
                ),
                "resource": {"cpus": w.cores_per_worker, "memory": w.memory_mib.to_string()},
            }],
        });
        if let Some(image) = &w.image {
            service["artifact"] = json!({"id": image, "type": "DOCKER"});
        }
        if let Some(queue) = &w.queue {
            service["queue"] = json!(queue);
        }
        service
    }

    fn fail(&self, op: &'static str, reason: String) -> ClusterError {
        ClusterError::Launch {
            op,
            what: format!("YARN service {}", self.workers.service),
            reason,
        }
    }

    fn create(&mut self, coordinator: &str, containers: u32) -> Result<()> {
        let spec = self.service_spec(coordinator, containers);
        let reply = self
            .client
            .call(Method::POST, &self.url(""), None, Some(&spec))
            .map_err(|e| self.fail("start", e))?;
        if !reply.is_success() {
            let hint = format!(
                "; if an earlier coordinator left it behind, destroy it with `yarn app -destroy {}`",
                self.workers.service
            );
            return Err(self.fail("start", refusal(&reply, &hint)));
        }
        self.created = true;
        self.containers = containers;
        Ok(())
    }

    fn flex(&mut self, containers: u32) -> Result<()> {
        let path = format!("/{}/components/{WORKER_COMPONENT}", self.workers.service);
        let body = json!({"name": WORKER_COMPONENT, "number_of_containers": containers});
        let reply = self
            .client
            .call(Method::PUT, &self.url(&path), None, Some(&body))
            .map_err(|e| self.fail("flex", e))?;
        if !reply.is_success() {
            return Err(self.fail("flex", refusal(&reply, "")));
        }
        self.containers = containers;
        Ok(())
    }

    /// Destroys the service and with it every worker container.
    pub fn destroy(&mut self) -> Result<()> {
        if !self.created {
            return Ok(());
        }
        let path = format!("/{}", self.workers.service);
        let reply = self
            .client
            .call(Method::DELETE, &self.url(&path), None, None)
            .map_err(|e| self.fail("stop", e))?;
        // 404: already gone, which is what was asked.
        if reply.is_success() || reply.status == 404 {
            self.created = false;
            self.containers = 0;
            return Ok(());
        }
        Err(self.fail("stop", refusal(&reply, "")))
    }
}

impl ResourceLauncher for YarnLauncher {
    fn launch(&mut self, coordinator: SocketAddr, count: u32) -> Result<()> {
        let target = match &self.workers.advertise {
            Some(a) => a.clone(),
            None if coordinator.ip().is_unspecified() || coordinator.ip().is_loopback() => {
                return Err(ClusterError::Invalid {
                    reason: format!(
                        "the coordinator listens on {coordinator}, which YARN containers cannot dial; pass --advertise HOST:PORT"
                    ),
                });
            }
            None => coordinator.to_string(),
        };
        // With restart_policy NEVER, YARN counts a lost container among the
        // component's instances, so a replacement raises the count.
        let containers = self.containers.saturating_add(count);
        if self.created {
            self.flex(containers)
        } else {
            self.create(&target, containers)
        }
    }

    fn stop_all(&mut self) {
        if let Err(e) = self.destroy() {
            tracing::error!("{e}");
        }
    }
}

impl Drop for YarnLauncher {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Why the ResourceManager refused, as a sentence. The Services API answers
/// with a ServiceStatus (`diagnostics`); the RM's web layer (authentication,
/// unknown paths) with a `RemoteException`.
fn refusal(reply: &Reply, hint: &str) -> String {
    let body = reply.json();
    let message = body["diagnostics"]
        .as_str()
        .or_else(|| body["RemoteException"]["message"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&reply.body).trim().to_string());
    let auth = match reply.status {
        401 | 403 => {
            "; on a cluster with simple authentication pass --yarn-user; Kerberos (SPNEGO) is not supported"
        }
        _ => "",
    };
    let hint = if reply.status == 400 { hint } else { "" };
    format!(
        "the ResourceManager answered {}: {message}{auth}{hint}",
        reply.status_line()
    )
}
