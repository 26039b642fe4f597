//! `spate coordinator --launcher k8s|yarn` end to end against simulated
//! orchestrator APIs: the coordinator process asks for its workers at
//! start, and gives them back when a client shuts it down.

#![allow(clippy::unwrap_used)]

#[path = "../../cluster/tests/support/mock_api.rs"]
mod mock_api;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mock_api::{MockApi, Request};
use serde_json::json;

fn spate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_spate"));
    c.env("RUST_LOG", "warn")
        .env_remove("KUBERNETES_SERVICE_HOST");
    c
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts a coordinator with `launcher_args`; returns it and its address.
fn coordinator(dir: &std::path::Path, launcher_args: &[&str]) -> (Child, String) {
    let addr_file = dir.join("coordinator.addr");
    let child = spate()
        .args(["coordinator", "--listen", "127.0.0.1:0", "--addr-file"])
        .arg(&addr_file)
        .arg("--dir")
        .arg(dir)
        .args(launcher_args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the coordinator's address", || addr_file.exists());
    let addr = std::fs::read_to_string(&addr_file)
        .unwrap()
        .trim()
        .to_string();
    (child, addr)
}

fn shut_down(dir: &std::path::Path, addr: &str, child: Child) -> Output {
    let out = spate()
        .args(["cluster", "stop", "--coordinator", addr, "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    child.wait_with_output().unwrap()
}

#[test]
fn k8s_creates_worker_pods_at_start_and_deletes_them_at_shutdown() {
    let api = MockApi::start(|req: &Request, _| match req.method.as_str() {
        "GET" => (
            200,
            json!({"kind": "PodList", "apiVersion": "v1", "items": []}).to_string(),
        ),
        "POST" => (201, req.body.clone()),
        _ => (200, json!({"kind": "Pod"}).to_string()),
    });
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "cli-token\n").unwrap();
    let url = api.url();
    let (child, addr) = coordinator(
        dir.path(),
        &[
            "--launcher",
            "k8s",
            "--workers",
            "2",
            "--cores-per-worker",
            "2",
            "--k8s-api-url",
            &url,
            "--k8s-token-file",
            token.to_str().unwrap(),
            "--k8s-namespace",
            "streaming",
            "--k8s-image",
            "spate:test",
            "--k8s-cluster",
            "ci",
            "--advertise",
            "spate-coordinator:6123",
        ],
    );
    wait_until("two pods", || {
        api.requests().iter().filter(|r| r.method == "POST").count() == 2
    });
    let out = shut_down(dir.path(), &addr, child);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let reqs = api.requests();
    let posts: Vec<&Request> = reqs.iter().filter(|r| r.method == "POST").collect();
    for (n, p) in posts.iter().enumerate() {
        assert_eq!(p.target, "/api/v1/namespaces/streaming/pods");
        let pod = p.json();
        assert_eq!(pod["metadata"]["name"], format!("ci-worker-{}", n + 1));
        assert_eq!(pod["spec"]["containers"][0]["image"], "spate:test");
        assert_eq!(
            pod["spec"]["containers"][0]["args"][2],
            "spate-coordinator:6123"
        );
        assert_eq!(
            pod["spec"]["containers"][0]["resources"]["limits"]["memory"],
            "3840Mi"
        );
    }
    let deletes: Vec<&str> = reqs
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.target.as_str())
        .collect();
    assert_eq!(
        deletes,
        [
            "/api/v1/namespaces/streaming/pods/ci-worker-1",
            "/api/v1/namespaces/streaming/pods/ci-worker-2"
        ]
    );
    assert!(
        reqs.iter()
            .all(|r| r.headers.get("authorization").map(String::as_str) == Some("Bearer cli-token"))
    );
}

#[test]
fn yarn_creates_the_service_at_start_and_destroys_it_at_shutdown() {
    let api = MockApi::start(|req: &Request, _| match req.method.as_str() {
        "POST" => (
            202,
            json!({"uri": "/v1/services/ci-workers", "state": "ACCEPTED"}).to_string(),
        ),
        _ => (
            200,
            json!({"diagnostics": "Successfully destroyed service ci-workers"}).to_string(),
        ),
    });
    let dir = tempfile::tempdir().unwrap();
    let url = api.url();
    let (child, addr) = coordinator(
        dir.path(),
        &[
            "--launcher",
            "yarn",
            "--workers",
            "3",
            "--yarn-rm",
            &url,
            "--yarn-user",
            "spate",
            "--yarn-service",
            "ci-workers",
            "--advertise",
            "coordinator-0.spate:6123",
        ],
    );
    wait_until("the service", || !api.requests().is_empty());
    let out = shut_down(dir.path(), &addr, child);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls: Vec<String> = api
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert_eq!(
        calls,
        [
            "POST /app/v1/services?user.name=spate",
            "DELETE /app/v1/services/ci-workers?user.name=spate"
        ]
    );
    let spec = api.requests()[0].json();
    assert_eq!(spec["components"][0]["number_of_containers"], 3);
}

#[test]
fn launcher_settings_are_refused_with_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = spate()
            .args(["coordinator", "--listen", "127.0.0.1:0", "--dir"])
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} must fail");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let err = run(&[
        "--launcher",
        "k8s",
        "--workers",
        "1",
        "--k8s-namespace",
        "x",
    ]);
    assert!(err.contains("--launcher k8s needs --k8s-image"), "{err}");
    let err = run(&[
        "--launcher",
        "k8s",
        "--workers",
        "1",
        "--k8s-namespace",
        "x",
        "--k8s-image",
        "i",
    ]);
    assert!(
        err.contains(
            "KUBERNETES_SERVICE_HOST is not set, so this is not a pod; pass --k8s-api-url"
        ),
        "{err}"
    );
    let err = run(&["--launcher", "yarn", "--workers", "1"]);
    assert!(err.contains("--launcher yarn needs --yarn-rm"), "{err}");
    let err = run(&["--launcher", "yarn"]);
    assert!(err.contains("--launcher yarn needs --workers N"), "{err}");
}
