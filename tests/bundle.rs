//! Air-gapped image bundles on the real Docker engine: save two locally built images, remove
//! them, load the bundle, and they are back with the same IDs. A truncated or corrupt bundle is
//! refused with a clear error and loads nothing. Images carry `io.kubeup.test=<run>` and are
//! removed at the end.

mod common;
use common::*;
use std::process::Command;

struct Images(String);
impl Drop for Images {
    fn drop(&mut self) {
        let ids = tool("docker", &["images", "-q", "--filter", &format!("label={}", self.0)]).1;
        for id in ids.split_whitespace() {
            let _ = Command::new("docker").args(["rmi", "-f", id]).output();
        }
    }
}

fn build(tag: &str, label: &str, content: &str) -> String {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("data"), content).unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), "FROM scratch\nCOPY data /data\n").unwrap();
    let o = Command::new("docker").env("DOCKER_BUILDKIT", "0").args(["build", "-q", "-t", tag, "--label", label]).arg(ctx.path()).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    tool("docker", &["image", "inspect", "-f", "{{.Id}}", tag]).1.trim().to_string()
}

fn present(tag: &str) -> bool {
    tool("docker", &["image", "inspect", tag]).0
}

fn docker_cmd() -> Command {
    let mut c = kubeup();
    c.env("KUBEUP_DOCKER_SOCKET", "/var/run/docker.sock");
    c
}

#[test]
fn bundles_round_trip_and_bad_bundles_load_nothing() {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).unwrap();
    let id: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let label = format!("io.kubeup.test={id}");
    let _images = Images(label.clone());
    let (a, bb) = (format!("kubeup-test/bundle-a:{id}"), format!("kubeup-test/bundle-b:{id}"));
    let id_a = build(&a, &label, "first image");
    let id_b = build(&bb, &label, "second image");
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.tar.gz");

    let r = Run::from(docker_cmd().args(["images", "save", "-o", bundle.to_str().unwrap(), "--image", &a, "--image", &bb]).output().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("saved 2 images"), "{}", r.stdout);
    for t in [&a, &bb] {
        assert!(tool("docker", &["rmi", t]).0);
        assert!(!present(t));
    }

    // Broken bundles first: nothing may be loaded from them.
    let full = std::fs::read(&bundle).unwrap();
    let truncated = dir.path().join("truncated.tar.gz");
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let garbage = dir.path().join("garbage.tar.gz");
    std::fs::write(&garbage, b"this is not a bundle at all").unwrap();
    let no_manifest = dir.path().join("nomanifest.tar");
    {
        let mut t = tar::Builder::new(std::fs::File::create(&no_manifest).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_cksum();
        t.append_data(&mut h, "layer.tar", &b"hello"[..]).unwrap();
        t.finish().unwrap();
    }
    for (file, why) in
        [(&truncated, "is truncated, corrupt or too large"), (&garbage, "is truncated, corrupt or too large"), (&no_manifest, "no manifest.json")]
    {
        let r = Run::from(docker_cmd().args(["images", "load", file.to_str().unwrap()]).output().unwrap());
        assert_eq!(r.code, 1, "{}", r.stdout);
        assert!(r.stderr.contains(why) && r.stderr.contains("nothing was loaded"), "{file:?}: {}", r.stderr);
        assert!(!present(&a) && !present(&bb), "a bad bundle loaded something");
    }

    let r = Run::from(docker_cmd().args(["images", "load", bundle.to_str().unwrap()]).output().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("loaded 2 images"), "{}", r.stdout);
    assert_eq!(tool("docker", &["image", "inspect", "-f", "{{.Id}}", &a]).1.trim(), id_a);
    assert_eq!(tool("docker", &["image", "inspect", "-f", "{{.Id}}", &bb]).1.trim(), id_b);
}

#[test]
fn images_list_names_every_image_of_a_version() {
    let r = Run::from(kubeup().args(["images", "list", "--kubernetes-version", "v1.20.2"]).output().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.lines().collect::<Vec<_>>(),
        vec![
            "registry.k8s.io/kube-apiserver:v1.20.2",
            "registry.k8s.io/kube-controller-manager:v1.20.2",
            "registry.k8s.io/kube-scheduler:v1.20.2",
            "registry.k8s.io/kube-proxy:v1.20.2",
            "registry.k8s.io/etcd:3.4.13-0",
            "registry.k8s.io/pause:3.2",
            "registry.k8s.io/coredns:1.7.0",
            "kubeup/kubelet:v1.20.2",
            // The default pod network, flannel.
            "ghcr.io/flannel-io/flannel:v0.26.7",
            "ghcr.io/flannel-io/flannel-cni-plugin:v1.6.2-flannel1",
        ]
    );
    // The bridge network needs kubeup's own image instead.
    let r = Run::from(
        kubeup().args(["images", "list", "--kubernetes-version", "v1.20.2", "--pod-network", "bridge", "--kubeup-image", "kubeup:1.0"]).output().unwrap(),
    );
    assert_eq!(r.stdout.lines().last(), Some("kubeup:1.0"), "{}", r.stdout);
}
