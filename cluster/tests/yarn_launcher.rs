//! The YARN launcher against a simulated ResourceManager that answers as
//! the YARN Services API documents: 202 Accepted with a ServiceStatus on
//! create, 200 on flex and destroy, 400 with `diagnostics`, 404 for a
//! service that does not exist, and the RM web layer's `RemoteException`.

mod support;

use std::net::SocketAddr;

use serde_json::json;
use spate_cluster::launcher::ResourceLauncher;
use spate_cluster::launcher::yarn::{YarnLauncher, YarnRm, YarnWorkers};
use support::mock_api::{MockApi, Request};

fn workers() -> YarnWorkers {
    YarnWorkers {
        service: "spate-workers".into(),
        queue: Some("streaming".into()),
        image: Some("spate:0.1.0".into()),
        cores_per_worker: 2,
        memory_mib: 3840,
        advertise: Some("coordinator-0.spate.example:6123".into()),
        request_timeout_ms: 5_000,
    }
}

fn launcher(api: &MockApi, user: Option<&str>) -> YarnLauncher {
    let rm = YarnRm {
        url: api.url(),
        user: user.map(str::to_string),
    };
    YarnLauncher::new(rm, workers()).expect("valid launcher")
}

fn coordinator() -> SocketAddr {
    "0.0.0.0:6123".parse().expect("addr")
}

fn diagnostics(text: &str) -> String {
    json!({"diagnostics": text}).to_string()
}

#[test]
fn creates_the_service_flexes_it_and_destroys_it() {
    let api = MockApi::start(|req: &Request, _| match req.method.as_str() {
        "POST" => (
            202,
            json!({"uri": "/v1/services/spate-workers",
                   "diagnostics": "Application ID: application_1503963985568_0002",
                   "state": "ACCEPTED"})
            .to_string(),
        ),
        "PUT" => (
            200,
            diagnostics("Updating component (worker) size from 2 to 3"),
        ),
        "DELETE" => (
            200,
            diagnostics("Successfully destroyed service spate-workers"),
        ),
        _ => (405, String::new()),
    });
    let mut l = launcher(&api, Some("spate"));
    l.launch(coordinator(), 2).expect("create");
    l.launch(coordinator(), 1).expect("flex");
    assert_eq!(l.containers(), 3);
    l.stop_all();
    assert_eq!(l.containers(), 0);

    let reqs = api.requests();
    let calls: Vec<String> = reqs
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert_eq!(
        calls,
        [
            "POST /app/v1/services?user.name=spate",
            "PUT /app/v1/services/spate-workers/components/worker?user.name=spate",
            "DELETE /app/v1/services/spate-workers?user.name=spate",
        ]
    );
    let spec = reqs[0].json();
    assert_eq!(spec["name"], "spate-workers");
    assert!(spec["version"].is_string(), "a service needs a version");
    assert_eq!(spec["queue"], "streaming");
    assert_eq!(
        spec["artifact"],
        json!({"id": "spate:0.1.0", "type": "DOCKER"})
    );
    let worker = &spec["components"][0];
    assert_eq!(worker["name"], "worker");
    assert_eq!(worker["number_of_containers"], 2);
    assert_eq!(worker["restart_policy"], "NEVER");
    assert_eq!(
        worker["launch_command"],
        "spate worker --coordinator coordinator-0.spate.example:6123 --cores 2 --data-host $(hostname -i)"
    );
    assert_eq!(worker["resource"], json!({"cpus": 2, "memory": "3840"}));
    assert_eq!(reqs[1].json()["number_of_containers"], 3);
    assert!(reqs[2].body.is_empty());
}

#[test]
fn a_taken_name_is_reported_with_the_destroy_command() {
    let api = MockApi::start(|_: &Request, _| {
        (
            400,
            diagnostics("Service name spate-workers is already taken."),
        )
    });
    let mut l = launcher(&api, None);
    let err = l.launch(coordinator(), 2).expect_err("taken").to_string();
    assert_eq!(
        err,
        "could not start YARN service spate-workers: the ResourceManager answered 400 Bad Request: Service name spate-workers is already taken.; if an earlier coordinator left it behind, destroy it with `yarn app -destroy spate-workers`"
    );
    assert_eq!(api.requests()[0].target, "/app/v1/services");
    // Nothing was created, so stopping sends nothing.
    l.stop_all();
    assert_eq!(api.requests().len(), 1);
}

#[test]
fn a_remote_exception_is_reported_with_the_authentication_hint() {
    let api = MockApi::start(|_: &Request, _| {
        (
            403,
            json!({"RemoteException": {
                "exception": "AuthorizationException",
                "message": "User dr.who is not authorized to submit applications to queue streaming",
                "javaClassName": "org.apache.hadoop.security.authorize.AuthorizationException"}})
            .to_string(),
        )
    });
    let mut l = launcher(&api, None);
    let err = l
        .launch(coordinator(), 1)
        .expect_err("forbidden")
        .to_string();
    assert_eq!(
        err,
        "could not start YARN service spate-workers: the ResourceManager answered 403 Forbidden: User dr.who is not authorized to submit applications to queue streaming; on a cluster with simple authentication pass --yarn-user; Kerberos (SPNEGO) is not supported"
    );
}

#[test]
fn a_failed_flex_and_a_vanished_service() {
    let api = MockApi::start(|req: &Request, _| match req.method.as_str() {
        "POST" => (202, json!({"state": "ACCEPTED"}).to_string()),
        "PUT" => (
            400,
            diagnostics("Service spate-workers is not running, cannot flex"),
        ),
        // Someone destroyed it by hand: gone is what stopping wants.
        _ => (404, diagnostics("Service spate-workers not found")),
    });
    let mut l = launcher(&api, None);
    l.launch(coordinator(), 1).expect("create");
    let err = l.launch(coordinator(), 1).expect_err("flex").to_string();
    assert_eq!(
        err,
        "could not flex YARN service spate-workers: the ResourceManager answered 400 Bad Request: Service spate-workers is not running, cannot flex"
    );
    assert_eq!(l.containers(), 1, "a refused flex changes nothing");
    l.destroy().expect("404 on destroy is success");
    assert_eq!(
        api.requests().last().map(|r| r.method.as_str()),
        Some("DELETE")
    );
}

#[test]
fn settings_are_checked_before_any_request() {
    let rm = YarnRm {
        url: "http://127.0.0.1:1".into(),
        user: None,
    };
    let err = YarnLauncher::new(
        rm.clone(),
        YarnWorkers {
            service: "Spate".into(),
            ..workers()
        },
    )
    .err()
    .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some(
            "invalid setting: the YARN service name `Spate` is not valid: lowercase letters, digits and `-`, starting with a letter, at most 63"
        )
    );
    let mut l = YarnLauncher::new(
        rm,
        YarnWorkers {
            advertise: None,
            ..workers()
        },
    )
    .expect("launcher");
    let err = l
        .launch(coordinator(), 1)
        .expect_err("no address")
        .to_string();
    assert_eq!(
        err,
        "invalid setting: the coordinator listens on 0.0.0.0:6123, which YARN containers cannot dial; pass --advertise HOST:PORT"
    );
}
