//! The kube-apiserver static pod (`phases/controlplane/manifests.go`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

use super::{build_pod, ca_cert_mounts, command, flags, host_mount, pki, probe, url_host, ProbeKind, StaticPod};
use crate::config::Config;

/// kube-apiserver's flags.
pub fn apiserver_flags(cfg: &Config) -> BTreeMap<String, String> {
    let mut f = flags([
        ("advertise-address", cfg.advertise_address.to_string()),
        ("allow-privileged", "true".into()),
        ("authorization-mode", "Node,RBAC".into()),
        ("client-ca-file", pki(cfg, "ca.crt")),
        ("enable-admission-plugins", "NodeRestriction".into()),
        ("enable-bootstrap-token-auth", "true".into()),
        ("etcd-cafile", pki(cfg, "etcd/ca.crt")),
        ("etcd-certfile", pki(cfg, "apiserver-etcd-client.crt")),
        ("etcd-keyfile", pki(cfg, "apiserver-etcd-client.key")),
        ("etcd-servers", super::etcd::local_client_url(cfg)),
        ("kubelet-client-certificate", pki(cfg, "apiserver-kubelet-client.crt")),
        ("kubelet-client-key", pki(cfg, "apiserver-kubelet-client.key")),
        ("kubelet-preferred-address-types", "InternalIP,ExternalIP,Hostname".into()),
        ("proxy-client-cert-file", pki(cfg, "front-proxy-client.crt")),
        ("proxy-client-key-file", pki(cfg, "front-proxy-client.key")),
        ("requestheader-allowed-names", "front-proxy-client".into()),
        ("requestheader-client-ca-file", pki(cfg, "front-proxy-ca.crt")),
        ("requestheader-extra-headers-prefix", "X-Remote-Extra-".into()),
        ("requestheader-group-headers", "X-Remote-Group".into()),
        ("requestheader-username-headers", "X-Remote-User".into()),
        ("secure-port", cfg.bind_port.to_string()),
        ("service-account-issuer", format!("https://kubernetes.default.svc.{}", cfg.dns_domain)),
        ("service-account-key-file", pki(cfg, "sa.pub")),
        ("service-account-signing-key-file", pki(cfg, "sa.key")),
        ("service-cluster-ip-range", cfg.service_subnet.to_string()),
        ("tls-cert-file", pki(cfg, "apiserver.crt")),
        ("tls-private-key-file", pki(cfg, "apiserver.key")),
    ]);
    if cfg.renewal.kubelet_serving_certificates {
        // Kubelets serve certificates signed by the cluster CA (serverTLSBootstrap, approved by
        // kubeup's renewer after checking them): the API server verifies them.
        f.insert("kubelet-certificate-authority".into(), pki(cfg, "ca.crt"));
    }
    if cfg.version.facts().apiserver_insecure_port_flag {
        f.insert("insecure-port".into(), "0".into());
    }
    f
}

/// The kube-apiserver Pod.
pub fn pod(cfg: &Config, ca_dirs: &[String]) -> Pod {
    let host = cfg.advertise_address.to_string();
    let port = i32::from(cfg.bind_port);
    let mut mounts = ca_cert_mounts(ca_dirs);
    mounts.push(host_mount("k8s-certs", &cfg.cert_dir, true, "DirectoryOrCreate"));
    build_pod(
        cfg,
        StaticPod {
            name: "kube-apiserver",
            image: cfg.image("kube-apiserver"),
            command: command("kube-apiserver", apiserver_flags(cfg), &cfg.apiserver_extra_args),
            mounts,
            probes: (
                Some(probe(ProbeKind::Liveness, &host, port, "/livez", "HTTPS")),
                cfg.version.facts().apiserver_readiness_probe.then(|| probe(ProbeKind::Readiness, &host, port, "/readyz", "HTTPS")),
                Some(probe(ProbeKind::Startup, &host, port, "/livez", "HTTPS")),
            ),
            requests: ("250m", None),
            annotations: BTreeMap::from([(
                "kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint".to_string(),
                format!("{}:{}", url_host(&cfg.advertise_address), cfg.bind_port),
            )]),
        },
    )
}
