//! Workers as Kubernetes pods ("native" mode): the coordinator creates a
//! pod per worker through the API server and deletes them when it stops.
//!
//! Every pod carries the labels `app.kubernetes.io/name=spate`,
//! `app.kubernetes.io/component=worker` and `spate.dev/cluster=<cluster>`,
//! so the launcher lists (and an operator finds) exactly its own pods; with
//! an owner, the pods also name the coordinator's pod in
//! `metadata.ownerReferences`, so Kubernetes deletes them when that pod is
//! deleted, even if the coordinator never got to stop them.
//! The permissions this needs are deploy/k8s/native/rbac.yaml.

use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Value, json};

use super::ResourceLauncher;
use super::rest::{Reply, RestClient, query_escape};
use crate::error::{ClusterError, Result};

/// Where a pod's ServiceAccount credentials are mounted.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Names tried per worker when earlier pods hold them (`409 AlreadyExists`).
const NAME_ATTEMPTS_MAX: u32 = 16;
/// Longest cluster name: a pod name is `<cluster>-worker-<n>`, at most 63
/// characters, and `-worker-` plus a number take up to 13.
const CLUSTER_NAME_CHARS_MAX: usize = 50;

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum K8sToken {
    /// A fixed bearer token.
    Static(String),
    /// A file holding the token, read again for every request: kubelet
    /// rotates projected ServiceAccount tokens (about hourly).
    File(PathBuf),
}

/// How to reach the API server.
#[derive(Debug, Clone)]
pub struct K8sApi {
    /// The API server's base URL, e.g. `https://10.96.0.1:443`.
    pub url: String,
    /// The bearer token.
    pub token: K8sToken,
    /// The CA that signed the server's certificate, PEM.
    pub ca_pem: Option<Vec<u8>>,
}

impl K8sApi {
    /// The in-cluster configuration: the API server from
    /// `KUBERNETES_SERVICE_HOST`/`_PORT`, the pod's ServiceAccount token
    /// and CA from [`SERVICE_ACCOUNT_DIR`].
    pub fn in_cluster() -> Result<Self> {
        let invalid = |reason: String| ClusterError::Invalid { reason };
        let host = std::env::var("KUBERNETES_SERVICE_HOST").map_err(|_| {
            invalid(
                "KUBERNETES_SERVICE_HOST is not set, so this is not a pod; pass --k8s-api-url and --k8s-token-file to reach an API server from outside".into(),
            )
        })?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
        // An IPv6 service address needs brackets in a URL.
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        let ca_path = PathBuf::from(SERVICE_ACCOUNT_DIR).join("ca.crt");
        let ca_pem = fs::read(&ca_path).map_err(|e| {
            invalid(format!(
                "cannot read the cluster CA {}: {e}; run the coordinator with automountServiceAccountToken: true",
                ca_path.display()
            ))
        })?;
        Ok(Self {
            url: format!("https://{host}:{port}"),
            token: K8sToken::File(PathBuf::from(SERVICE_ACCOUNT_DIR).join("token")),
            ca_pem: Some(ca_pem),
        })
    }

    fn bearer(&self) -> Result<String> {
        match &self.token {
            K8sToken::Static(t) => Ok(t.clone()),
            K8sToken::File(path) => fs::read_to_string(path)
                .map(|t| t.trim().to_string())
                .map_err(|e| ClusterError::Invalid {
                    reason: format!(
                        "cannot read the Kubernetes token {}: {e}; run the coordinator with automountServiceAccountToken: true, or pass --k8s-token-file",
                        path.display()
                    ),
                }),
        }
    }
}

/// The namespace of the pod this runs in, from its ServiceAccount mount.
pub fn in_cluster_namespace() -> Option<String> {
    fs::read_to_string(PathBuf::from(SERVICE_ACCOUNT_DIR).join("namespace"))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The coordinator's pod, which owns the worker pods.
#[derive(Debug, Clone)]
pub struct PodOwner {
    /// Its name (downward API `metadata.name`).
    pub name: String,
    /// Its uid (downward API `metadata.uid`).
    pub uid: String,
}

/// What the worker pods look like.
#[derive(Debug, Clone)]
pub struct K8sWorkers {
    /// Their namespace.
    pub namespace: String,
    /// The Spate image they run.
    pub image: String,
    /// Names the pods (`<cluster>-worker-<n>`) and labels them.
    pub cluster: String,
    /// `--cores` of each worker; also its CPU request and limit.
    pub cores_per_worker: u32,
    /// Memory request and limit of each worker, in MiB.
    pub memory_mib: u32,
    /// The address workers dial, `HOST:PORT` (the coordinator's Service);
    /// `None`: the address the coordinator listens on.
    pub advertise: Option<String>,
    /// The coordinator's pod, as owner of the workers.
    pub owner: Option<PodOwner>,
    /// A PersistentVolumeClaim mounted at `/var/lib/spate/checkpoints`.
    pub checkpoint_claim: Option<String>,
    /// A ConfigMap with `profile.toml`, mounted at `/etc/spate/profile`.
    pub profile_config_map: Option<String>,
    /// Each API request's time limit.
    pub request_timeout_ms: u64,
}

/// Launches workers as pods through the Kubernetes API.
pub struct K8sLauncher {
    api: K8sApi,
    workers: K8sWorkers,
    client: RestClient,
    /// Pods created and not yet deleted.
    pods: Vec<String>,
    next: u32,
}

impl K8sLauncher {
    /// A launcher; checks the names before any request is made.
    pub fn new(api: K8sApi, workers: K8sWorkers) -> Result<Self> {
        check_name("the cluster name (--k8s-cluster)", &workers.cluster)?;
        check_name("the namespace (--k8s-namespace)", &workers.namespace)?;
        if workers.cluster.len() > CLUSTER_NAME_CHARS_MAX {
            return Err(ClusterError::Invalid {
                reason: format!(
                    "the cluster name `{}` is longer than {CLUSTER_NAME_CHARS_MAX} characters; pod names would pass Kubernetes' 63",
                    workers.cluster
                ),
            });
        }
        if workers.image.is_empty() || workers.cores_per_worker == 0 {
            return Err(ClusterError::Invalid {
                reason: "a worker pod needs an image (--k8s-image) and at least one core".into(),
            });
        }
        let client = RestClient::new(workers.request_timeout_ms, api.ca_pem.as_deref())
            .map_err(|reason| ClusterError::Invalid { reason })?;
        Ok(Self {
            api,
            workers,
            client,
            pods: Vec::new(),
            next: 1,
        })
    }

    /// The pods created and not yet deleted.
    pub fn pods(&self) -> &[String] {
        &self.pods
    }

    fn pods_url(&self) -> String {
        format!(
            "{}/api/v1/namespaces/{}/pods",
            self.api.url.trim_end_matches('/'),
            self.workers.namespace
        )
    }

    /// The label selector of this cluster's worker pods.
    pub fn selector(&self) -> String {
        format!(
            "app.kubernetes.io/component=worker,spate.dev/cluster={}",
            self.workers.cluster
        )
    }

    fn call(&self, method: Method, url: &str, body: Option<&Value>) -> Result<Reply, String> {
        let token = self.api.bearer().map_err(|e| e.to_string())?;
        self.client.call(method, url, Some(&token), body)
    }

    /// The pod object of worker `name`, dialing `coordinator`.
    pub fn pod_spec(&self, name: &str, coordinator: &str) -> Value {
        let w = &self.workers;
        let cores = w.cores_per_worker.to_string();
        let mut env = vec![
            // Data links listen on ephemeral ports of the pod's own IP.
            json!({"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}),
            json!({"name": "RUST_LOG", "value": "info"}),
        ];
        let mut mounts = vec![
            json!({"name": "local", "mountPath": "/var/lib/spate/local"}),
            json!({"name": "tmp", "mountPath": "/tmp"}),
        ];
        let mut volumes = vec![
            json!({"name": "local", "emptyDir": {}}),
            json!({"name": "tmp", "emptyDir": {}}),
        ];
        if let Some(claim) = &w.checkpoint_claim {
            env.push(
                json!({"name": "SPATE_CHECKPOINT_DIR", "value": "/var/lib/spate/checkpoints"}),
            );
            mounts.push(json!({"name": "checkpoints", "mountPath": "/var/lib/spate/checkpoints"}));
            volumes.push(
                json!({"name": "checkpoints", "persistentVolumeClaim": {"claimName": claim}}),
            );
        }
        if let Some(map) = &w.profile_config_map {
            env.push(
                json!({"name": "SPATE_PROFILE_FILE", "value": "/etc/spate/profile/profile.toml"}),
            );
            mounts.push(
                json!({"name": "profile", "mountPath": "/etc/spate/profile", "readOnly": true}),
            );
            volumes.push(json!({"name": "profile", "configMap": {"name": map}}));
        }
        let resources = json!({"cpu": cores, "memory": format!("{}Mi", w.memory_mib)});
        let mut metadata = json!({
            "name": name,
            "namespace": w.namespace,
            "labels": {
                "app.kubernetes.io/name": "spate",
                "app.kubernetes.io/component": "worker",
                "spate.dev/cluster": w.cluster,
                "spate.dev/mode": "native",
            },
        });
        if let Some(owner) = &w.owner {
            metadata["ownerReferences"] = json!([{
                "apiVersion": "v1",
                "kind": "Pod",
                "name": owner.name,
                "uid": owner.uid,
                // The coordinator's own RBAC has no finalizer rights, which
                // blockOwnerDeletion would need.
                "blockOwnerDeletion": false,
            }]);
        }
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": {
                // The coordinator replaces lost workers itself; a kubelet
                // restart would bring back a fenced worker under the same name.
                "restartPolicy": "Never",
                "automountServiceAccountToken": false,
                "securityContext": {
                    "runAsNonRoot": true,
                    "runAsUser": 10001,
                    "runAsGroup": 10001,
                    "fsGroup": 10001,
                },
                "containers": [{
                    "name": "worker",
                    "image": w.image,
                    "imagePullPolicy": "IfNotPresent",
                    "args": ["worker", "--coordinator", coordinator, "--cores", cores, "--data-host", "$(POD_IP)"],
                    "env": env,
                    "resources": {"requests": resources, "limits": resources},
                    "securityContext": {
                        "allowPrivilegeEscalation": false,
                        "readOnlyRootFilesystem": true,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "volumeMounts": mounts,
                }],
                "volumes": volumes,
            },
        })
    }

    fn advertised(&self, coordinator: SocketAddr) -> Result<String> {
        if let Some(a) = &self.workers.advertise {
            return Ok(a.clone());
        }
        if coordinator.ip().is_unspecified() || coordinator.ip().is_loopback() {
            return Err(ClusterError::Invalid {
                reason: format!(
                    "the coordinator listens on {coordinator}, which worker pods cannot dial; pass --advertise HOST:PORT (e.g. the coordinator's Service, spate-coordinator:6123)"
                ),
            });
        }
        Ok(coordinator.to_string())
    }

    /// Creates one worker pod, trying the next name while earlier pods hold
    /// the name.
    fn create_one(&mut self, coordinator: &str) -> Result<String> {
        let url = self.pods_url();
        let first = self.next;
        for _ in 0..NAME_ATTEMPTS_MAX {
            let name = format!("{}-worker-{}", self.workers.cluster, self.next);
            self.next += 1;
            let fail = |reason: String| ClusterError::Launch {
                op: "start",
                what: format!("worker pod {name} in namespace {}", self.workers.namespace),
                reason,
            };
            let reply = self
                .call(Method::POST, &url, Some(&self.pod_spec(&name, coordinator)))
                .map_err(fail)?;
            if reply.is_success() {
                self.pods.push(name.clone());
                return Ok(name);
            }
            if reply.status == 409 {
                tracing::warn!(
                    "pod {name} already exists (a worker of an earlier coordinator?); trying the next name"
                );
                continue;
            }
            return Err(fail(refusal(&reply, &self.workers.namespace)));
        }
        Err(ClusterError::Launch {
            op: "start",
            what: format!("a worker pod in namespace {}", self.workers.namespace),
            reason: format!(
                "pods {c}-worker-{first} to {c}-worker-{} all exist already; delete the pods of the earlier cluster with `kubectl delete pods -n {} -l {}`",
                self.next - 1,
                self.workers.namespace,
                self.selector(),
                c = self.workers.cluster,
            ),
        })
    }

    /// Deletes this cluster's pods whose worker has ended (phase `Failed`
    /// or `Succeeded`): `restartPolicy: Never` leaves them behind, and the
    /// coordinator launches a new pod in their place. Returns their names.
    pub fn delete_ended(&mut self) -> Result<Vec<String>> {
        let url = format!(
            "{}?labelSelector={}",
            self.pods_url(),
            query_escape(&self.selector())
        );
        let fail = |reason: String| ClusterError::Launch {
            op: "list",
            what: format!("the worker pods in namespace {}", self.workers.namespace),
            reason,
        };
        let reply = self.call(Method::GET, &url, None).map_err(fail)?;
        if !reply.is_success() {
            return Err(fail(refusal(&reply, &self.workers.namespace)));
        }
        let list = reply.json();
        let ended: Vec<String> = list["items"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|p| matches!(p["status"]["phase"].as_str(), Some("Failed" | "Succeeded")))
            .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
            .collect();
        for name in &ended {
            self.delete(name)?;
        }
        Ok(ended)
    }

    fn delete(&mut self, name: &str) -> Result<()> {
        let url = format!("{}/{name}", self.pods_url());
        let fail = |reason: String| ClusterError::Launch {
            op: "stop",
            what: format!("worker pod {name} in namespace {}", self.workers.namespace),
            reason,
        };
        let reply = self.call(Method::DELETE, &url, None).map_err(fail)?;
        // 404: already gone, which is what was asked.
        if reply.is_success() || reply.status == 404 {
            self.pods.retain(|p| p != name);
            return Ok(());
        }
        Err(fail(refusal(&reply, &self.workers.namespace)))
    }

    /// Deletes every pod this launcher created; returns what failed (those
    /// pods stay listed in [`Self::pods`]).
    pub fn delete_all(&mut self) -> Vec<ClusterError> {
        let names = self.pods.clone();
        names
            .iter()
            .filter_map(|name| self.delete(name).err())
            .collect()
    }
}

impl ResourceLauncher for K8sLauncher {
    fn launch(&mut self, coordinator: SocketAddr, count: u32) -> Result<()> {
        let target = self.advertised(coordinator)?;
        // Cleaning up is best effort: a failed list must not stop a launch.
        match self.delete_ended() {
            Ok(gone) if !gone.is_empty() => {
                tracing::info!("deleted ended worker pods {}", gone.join(", "))
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("{e}"),
        }
        for _ in 0..count {
            let name = self.create_one(&target)?;
            tracing::info!("created worker pod {name}");
        }
        Ok(())
    }

    fn stop_all(&mut self) {
        for e in self.delete_all() {
            tracing::error!("{e}");
        }
    }
}

impl Drop for K8sLauncher {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Lowercase letters, digits and `-`, starting and ending alphanumeric (an
/// RFC 1123 label, as Kubernetes wants for names).
fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ClusterError::Invalid {
            reason: format!(
                "{what} `{name}` is not a Kubernetes name: lowercase letters, digits and `-`, at most 63, starting and ending with a letter or digit"
            ),
        })
    }
}

/// Why the API server refused, as a sentence: its `Status` object's
/// message, and what to do about the common refusals.
fn refusal(reply: &Reply, namespace: &str) -> String {
    let status = reply.json();
    let message = status["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&reply.body).trim().to_string());
    let hint = match reply.status {
        401 => "; the token was not accepted (expired or of another cluster)".to_string(),
        403 => format!(
            "; the coordinator's ServiceAccount needs the Role of deploy/k8s/native/rbac.yaml (kubectl apply -n {namespace} -f deploy/k8s/native/rbac.yaml)"
        ),
        404 if status["details"]["kind"].as_str() == Some("namespaces") => {
            format!("; create the namespace {namespace} first")
        }
        _ => String::new(),
    };
    format!(
        "the Kubernetes API answered {}: {message}{hint}",
        reply.status_line()
    )
}
