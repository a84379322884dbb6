//! The pod-volume attack on `reset`, performed: while reset runs, a "pod" keeps swapping a
//! directory of its volume with a symlink to `/etc/kubeup-sentinel` (absolute, as a pod writes it,
//! and relative) — on the host that resolves to the host's own /etc. A reset that deletes by path
//! would follow the link and delete the sentinel's files; kubeup's must not, on any of many runs. Also: dangerous `--cert-dir` and
//! `--etcd-data-dir` values are refused before anything is removed.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn reset(root: &Path, extra: &[&str]) -> Run {
    Run::from(kubeup().args(["reset", "--force", "--host-root", root.to_str().unwrap(), "--host-pid", NO_SUCH_PID]).args(extra).output().unwrap())
}

/// The volume directory of a pod, with a file named like the sentinel's.
fn plant(root: &Path) -> PathBuf {
    let vol = root.join("var/lib/kubelet/pods/0000-1111/volumes/kubernetes.io~empty-dir/data");
    std::fs::create_dir_all(vol.join("dir")).unwrap();
    std::fs::write(vol.join("dir/shadow"), b"pod's own file").unwrap();
    vol
}

#[test]
fn a_pod_swapping_a_directory_for_a_symlink_cannot_make_reset_delete_outside_the_root() {
    let runs: usize = std::env::var("KUBEUP_RESET_RACE_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(25);
    let mut hits = 0;
    for run in 0..runs {
        let root = tempfile::tempdir().unwrap();
        let r = init(root.path(), &[]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        // The "host's /etc": inside the host root, where a pod's absolute symlink to /etc
        // points once the host resolves it.
        let sentinel = root.path().join("etc/kubeup-sentinel");
        std::fs::create_dir_all(sentinel.join("sub")).unwrap();
        std::fs::write(sentinel.join("shadow"), b"the host's secret").unwrap();
        std::fs::write(sentinel.join("sub/passwd"), b"also the host's").unwrap();
        let vol = plant(root.path());
        // Standing links too: reset must unlink them, never walk them.
        std::os::unix::fs::symlink("/etc/kubeup-sentinel", vol.join("standing-absolute")).unwrap();
        std::os::unix::fs::symlink("../../../../../../../../etc/kubeup-sentinel", vol.join("standing-relative")).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let (stop, vol) = (stop.clone(), vol.clone());
            std::thread::spawn(move || {
                let (dir, aside) = (vol.join("dir"), vol.join("dir.real"));
                let mut swaps = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // Errors are expected: reset removes things under our feet.
                    let _ = std::fs::create_dir_all(&dir);
                    let _ = std::fs::write(dir.join("shadow"), b"pod's own file");
                    let _ = std::fs::rename(&dir, &aside);
                    let _ = std::os::unix::fs::symlink(
                        if swaps.is_multiple_of(2) { "/etc/kubeup-sentinel" } else { "../../../../../../../../etc/kubeup-sentinel" },
                        &dir,
                    );
                    std::thread::yield_now();
                    let _ = std::fs::remove_file(&dir);
                    let _ = std::fs::rename(&aside, &dir);
                    swaps += 1;
                }
            })
        };
        let r = reset(root.path(), &[]);
        stop.store(true, Ordering::Relaxed);
        swapper.join().unwrap();
        assert!(r.code == 0 || r.code == 1, "run {run}: {}\n{}", r.stdout, r.stderr);
        let shadow = std::fs::read(sentinel.join("shadow"));
        let passwd = std::fs::read(sentinel.join("sub/passwd"));
        if shadow.is_err() || passwd.is_err() {
            hits += 1;
        }
        assert!(!root.path().join("etc/kubernetes/pki/ca.key").exists(), "run {run}: reset did not do its job:\n{}", r.stdout);
    }
    assert_eq!(hits, 0, "reset deleted through a pod's symlink in {hits} of {runs} runs");
}

#[test]
fn a_symlinked_kubernetes_directory_is_not_followed() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(outside.path().join("pki")).unwrap();
    std::fs::write(outside.path().join("pki/ca.key"), b"someone else's key").unwrap();
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("etc")).unwrap();
    std::os::unix::fs::symlink(outside.path(), root.path().join("etc/kubernetes")).unwrap();
    let r = reset(root.path(), &[]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("does not follow links it did not make"), "{}", r.stderr);
    assert_eq!(std::fs::read(outside.path().join("pki/ca.key")).unwrap(), b"someone else's key");
}

#[test]
fn reset_refuses_to_clear_the_hosts_own_directories() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("etc")).unwrap();
    std::fs::write(root.path().join("etc/shadow"), b"keep").unwrap();
    for (flag, dir) in [("--cert-dir", "/"), ("--cert-dir", "/etc"), ("--etcd-data-dir", "/var/lib"), ("--etcd-data-dir", "/usr/")] {
        let before = snapshot(root.path());
        let r = reset(root.path(), &[flag, dir, "--remove-etcd-data"]);
        assert_eq!(r.code, 2, "{flag} {dir}: {}", r.stderr);
        assert!(r.stderr.contains("would make reset delete everything in"), "{}", r.stderr);
        assert_eq!(snapshot(root.path()), before, "{flag} {dir}");
    }
}
