//! The printed plans of `init --dry-run` and `join --dry-run` on the README's defaults, pinned as
//! golden files: a refactoring of how plans are executed must not change what they say. Only
//! what is random by nature is normalised (key and certificate sizes, token ids, CA hashes,
//! ports and scratch paths). Regenerate with `UPDATE_GOLDEN=1 cargo test --test dry_run_plans`.

mod common;
use common::*;
use std::path::PathBuf;

fn normalise(text: &str, scratch: &[&str]) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut l = line.to_string();
        for s in scratch {
            l = l.replace(s, "<scratch>");
        }
        // Sizes of keys, certificates and files that embed them vary by a byte or two.
        if l.contains(" bytes, ") && (l.contains(".crt") || l.contains(".key") || l.contains(".pub") || l.contains("redacted")) {
            if let (Some(a), Some(b)) = (l.find(", "), l.find(" bytes, ")) {
                l = format!("{}, N{}", &l[..a], &l[b..]);
            }
        }
        l = replace_after(&l, "bootstrap-token-", 6, "XXXXXX");
        l = replace_after(&l, "sha256:", 64, "<hash>");
        l = replace_after(&l, "127.0.0.1:", 5, "<port>");
        // Preflight's findings describe this machine (swap, free ports), not the plan.
        if l.starts_with("[init] took ") || l.starts_with("[join] took ") || l.contains(" ms)") || l.starts_with("[preflight]") {
            continue;
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// Replace the `n` characters after each `marker` (ports may be shorter: digits only).
fn replace_after(l: &str, marker: &str, n: usize, with: &str) -> String {
    let mut out = String::new();
    let mut rest = l;
    while let Some(i) = rest.find(marker) {
        out.push_str(&rest[..i + marker.len()]);
        let tail = &rest[i + marker.len()..];
        let take = tail.char_indices().take(n).take_while(|(_, c)| c.is_ascii_alphanumeric()).count();
        out.push_str(with);
        rest = &tail[take..];
    }
    out.push_str(rest);
    out
}

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(5)
            .map(|(i, (a, b))| format!("line {}:\n  golden: {a}\n  now:    {b}", i + 1))
            .collect();
        // Lines only one side has (the zip above stops at the shorter).
        let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
        let n = e.len().min(a.len());
        let mut diff = diff;
        diff.extend(e[n..].iter().map(|l| format!("only in the golden: {l}")));
        diff.extend(a[n..].iter().map(|l| format!("only now: {l}")));
        panic!("{name} differs ({} vs {} lines):\n{}\n(UPDATE_GOLDEN=1 to accept)", expected.lines().count(), actual.lines().count(), diff.join("\n"));
    }
}

/// The plans show the preflight's port checks, which probe the machine's real ports by binding
/// them for an instant: two kubeup processes of these tests at once would see each other's probe
/// as a busy port. One at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn the_init_plan_on_the_readme_defaults_is_unchanged() {
    let _one_at_a_time = serial();
    let root = tempfile::tempdir().unwrap();
    let r = Run::from(
        kubeup()
            .args(["init", "--dry-run", "--host-root", root.path().to_str().unwrap(), "--node-name", "node-1", "--apiserver-advertise-address", "192.0.2.10"])
            .args(["--host-pid", NO_SUCH_PID])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    golden("dry-run-init.txt", &normalise(&r.stdout, &[root.path().to_str().unwrap()]));
}

/// A dry-run `join` of a worker with the line an `init` against the test API server printed, and
/// `extra` flags; returns the init root (kept alive), the join's node root, the port and the run.
fn worker_join_dry_run(extra: &[&str]) -> (tempfile::TempDir, tempfile::TempDir, u16, Run) {
    let _one_at_a_time = serial();
    let (root, _server, port) = prepared("v1.37.2");
    let r = api_init(root.path(), port, "v1.37.2", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = r.stdout.lines().find(|l| l.contains("kubeup join")).unwrap().to_string();
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = |flag: &str| words[words.iter().position(|w| *w == flag).unwrap() + 1].to_string();
    let node = tempfile::tempdir().unwrap();
    let mut c = kubeup();
    c.env("KUBEUP_DISCOVERY_INTERVAL_MS", "100");
    c.args(["join", &format!("127.0.0.1:{port}"), "--token", &at("--token"), "--discovery-token-ca-cert-hash", &at("--discovery-token-ca-cert-hash")]);
    c.args(["--dry-run", "--host-root", node.path().to_str().unwrap(), "--host-pid", NO_SUCH_PID, "--node-name", "worker-1"]);
    c.args(extra);
    let r = Run::from(c.output().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    (root, node, port, r)
}

#[test]
fn the_join_plan_is_unchanged() {
    let (root, node, _port, r) = worker_join_dry_run(&["--node-ip", "192.0.2.20"]);
    golden("dry-run-join.txt", &normalise(&r.stdout, &[node.path().to_str().unwrap(), root.path().to_str().unwrap()]));
}

/// The worker's api-proxy container as `join --dry-run -o json` plans it: kubeup's image running
/// `api-proxy` on the API port on loopback, seeded with the API server discovery verified,
/// restarted always, unprivileged, reading only the kubeconfig, CA and kubelet certificate.
#[test]
fn a_worker_join_plans_the_api_proxy_before_the_kubelet() {
    let (_root, _node, port, r) = worker_join_dry_run(&["-o", "json"]);
    // stdout is the JSON report alone (progress goes to stderr under -o json).
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout));
    let phases: Vec<&str> = v["phases"].as_array().unwrap().iter().map(|p| p["phase"].as_str().unwrap()).collect();
    let pos = |name: &str| phases.iter().position(|p| *p == name).unwrap_or_else(|| panic!("no phase {name} in {phases:?}"));
    assert!(pos("api-proxy") < pos("kubelet-start"), "{phases:?}");
    let steps = v["phases"][pos("api-proxy")]["steps"].as_array().unwrap();
    let c = &steps.iter().find(|s| s["action"] == "run-container").expect("a container step")["container"];
    assert_eq!(c["name"], "kubeup-api-proxy");
    let args: Vec<&str> = c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(args[0], "api-proxy");
    for want in ["--listen=127.0.0.1:6443".to_string(), format!("--backend=127.0.0.1:{port}"), "--state-dir=/var/lib/kubeup/api-proxy".into()] {
        assert!(args.contains(&want.as_str()), "{want} not in {args:?}");
    }
    assert_eq!((c["restart_policy"].as_str(), c["privileged"].as_bool(), c["host_namespaces"].as_bool()), (Some("always"), Some(false), Some(true)), "{c:#}");
    assert_eq!(c["labels"]["io.kubeup.component"], "api-proxy");
    let writable: Vec<&str> = c["mounts"].as_array().unwrap().iter().filter(|m| m["read_only"] == false).map(|m| m["source"].as_str().unwrap()).collect();
    assert_eq!(writable, vec!["/var/lib/kubeup/api-proxy"], "{c:#}");
}
