//! `spate coordinator --launcher local|k8s|yarn`: which
//! [`ResourceLauncher`] starts the workers the coordinator keeps.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use spate_cluster::launcher::k8s::{self, K8sApi, K8sLauncher, K8sToken, K8sWorkers, PodOwner};
use spate_cluster::launcher::yarn::{YarnLauncher, YarnRm, YarnWorkers};
use spate_cluster::launcher::{LocalProcessLauncher, ResourceLauncher};

/// Memory of a launched worker per core, in MiB, unless
/// `--worker-memory-mib` says otherwise: what the static deployments give
/// a 2-core worker (3840 MiB).
const WORKER_MEMORY_MIB_PER_CORE: u32 = 1920;

/// Where launched workers run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LauncherKind {
    /// Processes of this binary on this machine.
    Local,
    /// Pods created through the Kubernetes API (native mode).
    K8s,
    /// Containers of a YARN service, through the ResourceManager's REST API.
    Yarn,
}

/// The launcher flags of `spate coordinator`.
#[derive(Args, Debug)]
pub struct LauncherArgs {
    /// Where the --workers run: local processes, Kubernetes pods or YARN containers.
    #[arg(long, value_enum, default_value_t = LauncherKind::Local)]
    launcher: LauncherKind,
    /// The address launched pods or containers dial, `HOST:PORT` (e.g. the
    /// coordinator's Service); needed when --listen is a wildcard address.
    #[arg(long, value_name = "HOST:PORT")]
    advertise: Option<String>,
    /// Local workers dial each other's data links through this HTTP CONNECT
    /// proxy, `HOST:PORT`.
    #[arg(long, value_name = "HOST:PORT")]
    worker_data_proxy: Option<std::net::SocketAddr>,
    /// Local workers dial the coordinator through this HTTP CONNECT proxy.
    #[arg(long, value_name = "HOST:PORT")]
    worker_control_proxy: Option<std::net::SocketAddr>,
    /// Memory of each pod or container, in MiB [default: 1920 per core].
    #[arg(long)]
    worker_memory_mib: Option<u32>,
    /// Time limit of each Kubernetes or YARN API request.
    #[arg(long, default_value_t = 10_000)]
    launcher_request_timeout_ms: u64,
    /// The Kubernetes API server [default: in-cluster, from the pod's ServiceAccount].
    #[arg(long, value_name = "URL")]
    k8s_api_url: Option<String>,
    /// A file holding the bearer token (with --k8s-api-url).
    #[arg(long, value_name = "FILE")]
    k8s_token_file: Option<PathBuf>,
    /// The CA certificate of the API server, PEM (with --k8s-api-url).
    #[arg(long, value_name = "FILE")]
    k8s_ca_file: Option<PathBuf>,
    /// The namespace of the worker pods [default: the coordinator pod's].
    #[arg(long)]
    k8s_namespace: Option<String>,
    /// The image the worker pods run.
    #[arg(long)]
    k8s_image: Option<String>,
    /// Names the worker pods (`<cluster>-worker-<n>`) and labels them `spate.dev/cluster`.
    #[arg(long, default_value = "spate")]
    k8s_cluster: String,
    /// A PersistentVolumeClaim the workers mount at /var/lib/spate/checkpoints.
    #[arg(long)]
    k8s_checkpoint_claim: Option<String>,
    /// A ConfigMap with profile.toml the workers mount at /etc/spate/profile.
    #[arg(long)]
    k8s_profile_configmap: Option<String>,
    /// The ResourceManager's web address, e.g. http://rm.example:8088.
    #[arg(long, value_name = "URL")]
    yarn_rm: Option<String>,
    /// The user for the ResourceManager's simple authentication (`user.name`).
    #[arg(long)]
    yarn_user: Option<String>,
    /// The YARN service that holds the workers.
    #[arg(long, default_value = "spate-workers")]
    yarn_service: String,
    /// The YARN queue [default: the cluster's].
    #[arg(long)]
    yarn_queue: Option<String>,
    /// A Docker image for the worker containers [default: spate on the nodes' PATH].
    #[arg(long)]
    yarn_image: Option<String>,
}

/// The launcher the flags ask for; `None` when no worker is to be launched.
pub fn build(
    args: &LauncherArgs,
    workers: u32,
    cores_per_worker: u32,
    dir: &Path,
) -> anyhow::Result<Option<Box<dyn ResourceLauncher>>> {
    if workers == 0 {
        if args.launcher != LauncherKind::Local {
            let name = if args.launcher == LauncherKind::K8s {
                "k8s"
            } else {
                "yarn"
            };
            bail!("--launcher {name} needs --workers N (how many workers to keep)");
        }
        return Ok(None);
    }
    let memory_mib = args
        .worker_memory_mib
        .unwrap_or(WORKER_MEMORY_MIB_PER_CORE.saturating_mul(cores_per_worker));
    let proxied = args.worker_data_proxy.is_some() || args.worker_control_proxy.is_some();
    if proxied && !matches!(args.launcher, LauncherKind::Local) {
        bail!(
            "--worker-data-proxy and --worker-control-proxy apply to local workers only; pods and containers take their network settings from their platform"
        );
    }
    let launcher: Box<dyn ResourceLauncher> = match args.launcher {
        LauncherKind::Local => {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let binary = std::env::current_exe().context("cannot find the spate executable")?;
            Box::new(LocalProcessLauncher::new(
                binary,
                dir.to_path_buf(),
                cores_per_worker,
                args.worker_data_proxy
                    .iter()
                    .flat_map(|p| ["--data-proxy".to_string(), p.to_string()])
                    .chain(
                        args.worker_control_proxy
                            .iter()
                            .flat_map(|p| ["--control-proxy".to_string(), p.to_string()]),
                    )
                    .collect(),
            ))
        }
        LauncherKind::K8s => {
            let Some(image) = args.k8s_image.clone() else {
                bail!("--launcher k8s needs --k8s-image (the Spate image the worker pods run)");
            };
            let namespace = match args
                .k8s_namespace
                .clone()
                .or_else(k8s::in_cluster_namespace)
            {
                Some(ns) => ns,
                None => bail!("--launcher k8s needs --k8s-namespace outside a pod"),
            };
            let workers = K8sWorkers {
                namespace,
                image,
                cluster: args.k8s_cluster.clone(),
                cores_per_worker,
                memory_mib,
                advertise: args.advertise.clone(),
                owner: pod_owner(),
                checkpoint_claim: args.k8s_checkpoint_claim.clone(),
                profile_config_map: args.k8s_profile_configmap.clone(),
                request_timeout_ms: args.launcher_request_timeout_ms,
            };
            Box::new(K8sLauncher::new(k8s_api(args)?, workers)?)
        }
        LauncherKind::Yarn => {
            let Some(url) = args.yarn_rm.clone() else {
                bail!(
                    "--launcher yarn needs --yarn-rm (the ResourceManager's web address, e.g. http://rm.example:8088)"
                );
            };
            let workers = YarnWorkers {
                service: args.yarn_service.clone(),
                queue: args.yarn_queue.clone(),
                image: args.yarn_image.clone(),
                cores_per_worker,
                memory_mib,
                advertise: args.advertise.clone(),
                request_timeout_ms: args.launcher_request_timeout_ms,
            };
            let rm = YarnRm {
                url,
                user: args.yarn_user.clone(),
            };
            Box::new(YarnLauncher::new(rm, workers)?)
        }
    };
    Ok(Some(launcher))
}

fn k8s_api(args: &LauncherArgs) -> anyhow::Result<K8sApi> {
    let Some(url) = args.k8s_api_url.clone() else {
        return Ok(K8sApi::in_cluster()?);
    };
    let Some(token) = args.k8s_token_file.clone() else {
        bail!("--k8s-api-url needs --k8s-token-file (a file holding the bearer token)");
    };
    let ca_pem = match &args.k8s_ca_file {
        Some(path) => {
            Some(fs::read(path).with_context(|| format!("cannot read {}", path.display()))?)
        }
        None => None,
    };
    Ok(K8sApi {
        url,
        token: K8sToken::File(token),
        ca_pem,
    })
}

/// The coordinator's own pod, from the downward API variables that
/// deploy/k8s/native/coordinator.yaml sets: its workers name it as owner,
/// so deleting the coordinator deletes them.
fn pod_owner() -> Option<PodOwner> {
    let name = std::env::var("SPATE_POD_NAME").ok()?;
    let uid = std::env::var("SPATE_POD_UID").ok()?;
    Some(PodOwner { name, uid })
}
