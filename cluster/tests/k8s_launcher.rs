//! The native Kubernetes launcher against a simulated API server that
//! answers as the pod API documents: 201 with the Pod, 409 AlreadyExists,
//! 403 Forbidden and 404 NotFound as `Status` objects, a `PodList`.

mod support;

use std::net::SocketAddr;

use serde_json::{Value, json};
use spate_cluster::launcher::ResourceLauncher;
use spate_cluster::launcher::k8s::{K8sApi, K8sLauncher, K8sToken, K8sWorkers, PodOwner};
use support::mock_api::{MockApi, Request};

const NS: &str = "spate";

fn status(code: u16, reason: &str, message: &str) -> String {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "details": {"kind": "pods"}, "code": code,
    })
    .to_string()
}

fn pod(name: &str, phase: &str) -> Value {
    json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}"),
                     "labels": {"spate.dev/cluster": "spate", "app.kubernetes.io/component": "worker"}},
        "status": {"phase": phase},
    })
}

fn workers() -> K8sWorkers {
    K8sWorkers {
        namespace: NS.into(),
        image: "registry.invalid/spate:0.1.0".into(),
        cluster: "spate".into(),
        cores_per_worker: 2,
        memory_mib: 3840,
        advertise: Some("spate-coordinator:6123".into()),
        owner: Some(PodOwner {
            name: "spate-coordinator-7d9f".into(),
            uid: "0b5c-coordinator-uid".into(),
        }),
        checkpoint_claim: Some("spate-checkpoints".into()),
        profile_config_map: None,
        request_timeout_ms: 5_000,
    }
}

fn launcher(api: &MockApi, w: K8sWorkers) -> K8sLauncher {
    let api = K8sApi {
        url: api.url(),
        token: K8sToken::Static("test-token".into()),
        ca_pem: None,
    };
    K8sLauncher::new(api, w).expect("valid launcher")
}

fn coordinator() -> SocketAddr {
    "0.0.0.0:6123".parse().expect("addr")
}

fn name_in(path: &str) -> String {
    path.rsplit('/').next().unwrap_or("").to_string()
}

#[test]
fn creates_labelled_pods_skips_taken_names_and_deletes_them() {
    let api = MockApi::start(|req: &Request, _| {
        let pods = format!("/api/v1/namespaces/{NS}/pods");
        match req.method.as_str() {
            "GET" => (
                200,
                json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "9"},
                       "items": [pod("spate-worker-7", "Failed"), pod("spate-worker-8", "Running")]})
                .to_string(),
            ),
            "POST" if req.target == pods => {
                let name = req.json()["metadata"]["name"].as_str().unwrap_or("").to_string();
                if name == "spate-worker-1" {
                    let msg = format!("pods \"{name}\" already exists");
                    (409, status(409, "AlreadyExists", &msg))
                } else {
                    (201, pod(&name, "Pending").to_string())
                }
            }
            "DELETE" if name_in(&req.target) == "spate-worker-3" => {
                let msg = "pods \"spate-worker-3\" not found";
                (404, status(404, "NotFound", msg))
            }
            "DELETE" => (200, pod(&name_in(&req.target), "Running").to_string()),
            _ => (400, status(400, "BadRequest", "unexpected")),
        }
    });
    let mut l = launcher(&api, workers());
    l.launch(coordinator(), 2).expect("launch");
    assert_eq!(l.pods(), ["spate-worker-2", "spate-worker-3"]);

    let reqs = api.requests();
    let calls: Vec<(String, String)> = reqs
        .iter()
        .map(|r| (r.method.clone(), r.target.clone()))
        .collect();
    let pods = format!("/api/v1/namespaces/{NS}/pods");
    assert_eq!(
        calls,
        [
            (
                "GET".to_string(),
                format!(
                    "{pods}?labelSelector=app.kubernetes.io%2Fcomponent%3Dworker%2Cspate.dev%2Fcluster%3Dspate"
                )
            ),
            // The ended pod of an earlier coordinator, not the running one.
            ("DELETE".to_string(), format!("{pods}/spate-worker-7")),
            ("POST".to_string(), pods.clone()),
            ("POST".to_string(), pods.clone()),
            ("POST".to_string(), pods.clone()),
        ]
    );
    for r in &reqs {
        assert_eq!(
            r.headers.get("authorization").map(String::as_str),
            Some("Bearer test-token")
        );
    }
    let body = reqs[3].json();
    assert_eq!(
        reqs[3].headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    assert_eq!(body["kind"], "Pod");
    assert_eq!(body["metadata"]["name"], "spate-worker-2");
    assert_eq!(body["metadata"]["namespace"], NS);
    assert_eq!(body["metadata"]["labels"]["spate.dev/cluster"], "spate");
    assert_eq!(
        body["metadata"]["labels"]["app.kubernetes.io/component"],
        "worker"
    );
    assert_eq!(body["metadata"]["ownerReferences"][0]["kind"], "Pod");
    assert_eq!(
        body["metadata"]["ownerReferences"][0]["uid"],
        "0b5c-coordinator-uid"
    );
    assert_eq!(body["spec"]["restartPolicy"], "Never");
    let c = &body["spec"]["containers"][0];
    assert_eq!(c["image"], "registry.invalid/spate:0.1.0");
    assert_eq!(
        c["args"],
        json!([
            "worker",
            "--coordinator",
            "spate-coordinator:6123",
            "--cores",
            "2",
            "--data-host",
            "$(POD_IP)"
        ])
    );
    assert_eq!(
        c["resources"]["limits"],
        json!({"cpu": "2", "memory": "3840Mi"})
    );
    assert_eq!(
        body["spec"]["volumes"][2]["persistentVolumeClaim"]["claimName"],
        "spate-checkpoints"
    );

    // Stopping deletes both; the one already gone (404) counts as deleted.
    assert!(l.delete_all().is_empty());
    assert!(l.pods().is_empty());
    let deletes: Vec<String> = api.requests()[5..]
        .iter()
        .map(|r| format!("{} {}", r.method, name_in(&r.target)))
        .collect();
    assert_eq!(deletes, ["DELETE spate-worker-2", "DELETE spate-worker-3"]);
}

#[test]
fn refusals_become_sentences_that_say_what_to_do() {
    let forbidden = "pods is forbidden: User \"system:serviceaccount:spate:default\" cannot create resource \"pods\" in API group \"\" in the namespace \"spate\"";
    let api = MockApi::start(move |req: &Request, _| match req.method.as_str() {
        "GET" => (200, json!({"kind": "PodList", "items": []}).to_string()),
        _ => (403, status(403, "Forbidden", forbidden)),
    });
    let mut l = launcher(&api, workers());
    let err = l
        .launch(coordinator(), 1)
        .expect_err("forbidden")
        .to_string();
    assert_eq!(
        err,
        format!(
            "could not start worker pod spate-worker-1 in namespace spate: the Kubernetes API answered 403 Forbidden: {forbidden}; the coordinator's ServiceAccount needs the Role of deploy/k8s/native/rbac.yaml (kubectl apply -n spate -f deploy/k8s/native/rbac.yaml)"
        )
    );
    assert!(l.pods().is_empty());
}

#[test]
fn every_name_taken_stops_with_the_cleanup_command() {
    let api = MockApi::start(|req: &Request, _| match req.method.as_str() {
        "GET" => (200, json!({"kind": "PodList", "items": []}).to_string()),
        _ => (
            409,
            status(409, "AlreadyExists", "pods \"x\" already exists"),
        ),
    });
    let mut l = launcher(&api, workers());
    let err = l
        .launch(coordinator(), 1)
        .expect_err("all taken")
        .to_string();
    assert!(
        err.contains("pods spate-worker-1 to spate-worker-16 all exist already")
            && err.contains(
                "kubectl delete pods -n spate -l app.kubernetes.io/component=worker,spate.dev/cluster=spate"
            ),
        "{err}"
    );
    assert_eq!(
        api.requests().iter().filter(|r| r.method == "POST").count(),
        16
    );
}

#[test]
fn a_failed_delete_keeps_the_pod_listed() {
    let api = MockApi::start(|req: &Request, _| match req.method.as_str() {
        "GET" => (200, json!({"kind": "PodList", "items": []}).to_string()),
        "POST" => {
            let name = req.json()["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string();
            (201, pod(&name, "Pending").to_string())
        }
        _ => (
            403,
            status(403, "Forbidden", "pods \"spate-worker-1\" is forbidden"),
        ),
    });
    let mut l = launcher(&api, workers());
    l.launch(coordinator(), 1).expect("launch");
    let errors = l.delete_all();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .to_string()
            .starts_with("could not stop worker pod spate-worker-1 in namespace spate: the Kubernetes API answered 403 Forbidden: pods \"spate-worker-1\" is forbidden"),
        "{}",
        errors[0]
    );
    assert_eq!(l.pods(), ["spate-worker-1"]);
}

#[test]
fn the_token_file_is_read_for_every_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    std::fs::write(&token, "first\n").expect("write token");
    let api = MockApi::start(|req: &Request, _| match req.method.as_str() {
        "GET" => (200, json!({"kind": "PodList", "items": []}).to_string()),
        _ => (201, pod("x", "Pending").to_string()),
    });
    let k8s = K8sApi {
        url: api.url(),
        token: K8sToken::File(token.clone()),
        ca_pem: None,
    };
    let mut l = K8sLauncher::new(k8s, workers()).expect("launcher");
    l.launch(coordinator(), 1).expect("launch");
    // kubelet rotated the projected token.
    std::fs::write(&token, "second\n").expect("rotate token");
    l.launch(coordinator(), 1).expect("launch");
    let bearers: Vec<String> = api
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .filter_map(|r| r.headers.get("authorization").cloned())
        .collect();
    assert_eq!(bearers, ["Bearer first", "Bearer second"]);
}

#[test]
fn settings_are_checked_before_any_request() {
    let api = MockApi::start(|_: &Request, _| (500, String::new()));
    let bad = K8sWorkers {
        cluster: "Spate_1".into(),
        ..workers()
    };
    let k8s = K8sApi {
        url: api.url(),
        token: K8sToken::Static("t".into()),
        ca_pem: None,
    };
    let err = K8sLauncher::new(k8s.clone(), bad)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some(
            "invalid setting: the cluster name (--k8s-cluster) `Spate_1` is not a Kubernetes name: lowercase letters, digits and `-`, at most 63, starting and ending with a letter or digit"
        )
    );
    let mut l = K8sLauncher::new(
        k8s,
        K8sWorkers {
            advertise: None,
            ..workers()
        },
    )
    .expect("launcher");
    let err = l
        .launch(coordinator(), 1)
        .expect_err("no address")
        .to_string();
    assert!(err.contains("the coordinator listens on 0.0.0.0:6123, which worker pods cannot dial; pass --advertise"), "{err}");
    assert!(api.requests().is_empty());
}

#[test]
fn an_unreachable_api_server_is_named() {
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let k8s = K8sApi {
        url: format!("http://127.0.0.1:{port}"),
        token: K8sToken::Static("t".into()),
        ca_pem: None,
    };
    let mut l = K8sLauncher::new(k8s, workers()).expect("launcher");
    let err = l
        .launch(coordinator(), 1)
        .expect_err("unreachable")
        .to_string();
    assert!(
        err.starts_with(&format!(
            "could not start worker pod spate-worker-1 in namespace spate: POST http://127.0.0.1:{port}/api/v1/namespaces/spate/pods got no answer"
        )),
        "{err}"
    );
}
