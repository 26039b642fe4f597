//! A long-lived coordinator must not keep a descriptor per client: every
//! `spate cluster status` (and `spate submit`) connects, asks and goes.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use spate_torture::cluster::{LocalCluster, find_spate_binary};

#[test]
fn client_connections_leave_no_descriptor_behind_in_the_coordinator() {
    let spate = find_spate_binary().unwrap();
    let dir = std::env::temp_dir().join(format!("spate-torture-fds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cluster = LocalCluster::start(&spate, &dir, 1, 5_000, None, &[]).unwrap();
    let status = || {
        let out = Command::new(&spate)
            .args(["cluster", "status", "--dir"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    status();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let before = cluster.resources().coordinator_fds;
    for _ in 0..30 {
        status();
    }
    // The coordinator's loop sees each disconnection within a tick or two.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let after = cluster.resources().coordinator_fds;
    assert!(before > 0, "the coordinator's descriptors were counted");
    assert!(
        after < before + 5,
        "30 status requests left {} descriptors open in the coordinator ({before} → {after})",
        after - before
    );
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}
