//! Turning layered [`Settings`] into a validated [`Config`]: every rule names the field it checks.

use std::net::IpAddr;

use super::net::is_unicast;
use super::{Config, ConfigError, Endpoint, HostDefaults, Settings, DEFAULT_KUBELET_IMAGE_REPOSITORY};

fn invalid(field: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { field: field.to_string(), reason: reason.into() }
}

/// RFC 1123 subdomain: lower-case alphanumerics, `-` and `.`, each label starting and ending
/// alphanumeric, at most 253 characters (Kubernetes' rule for node names and DNS domains).
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// A SAN is an IP address, a DNS name, or a wildcard DNS name (`*.example.com`).
fn check_san(field: &str, san: &str) -> Result<(), ConfigError> {
    if san.parse::<IpAddr>().is_ok() || is_dns_subdomain(san.strip_prefix("*.").unwrap_or(san)) {
        Ok(())
    } else {
        Err(invalid(field, format!("{san:?} is neither an IP address nor a valid DNS name")))
    }
}

fn parse_endpoint(s: &str, default_port: u16) -> Result<Endpoint, ConfigError> {
    let field = "controlPlaneEndpoint";
    let bad = || invalid(field, format!("{s:?} is not host[:port]: expected e.g. cp.example.com:6443 or 192.0.2.10"));
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(Endpoint { host: ip.to_string(), port: default_port });
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once(']').ok_or_else(bad)?;
        (h, p.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad)?,
        None => default_port,
    };
    if host.parse::<IpAddr>().is_err() && !is_dns_subdomain(host) {
        return Err(bad());
    }
    Ok(Endpoint { host: host.to_string(), port })
}

fn absolute(field: &str, path: String) -> Result<String, ConfigError> {
    if !path.starts_with('/') || path.split('/').any(|c| c == "..") {
        return Err(invalid(field, format!("{path:?} must be an absolute path without '..'")));
    }
    Ok(path)
}

/// Validate and resolve. `s` already holds the defaults underneath.
pub(super) fn resolve(s: Settings, host: &HostDefaults) -> Result<Config, ConfigError> {
    // Invariant for every `expect`-free `unwrap_or_default` below: `Settings::defaults()` set it.
    let version = s.kubernetes_version.clone().ok_or_else(|| invalid("kubernetesVersion", "not set"))?;

    let cluster_name = s.cluster_name.clone().unwrap_or_default();
    if !is_dns_subdomain(&cluster_name) {
        return Err(invalid("clusterName", format!("{cluster_name:?} must be a lower-case DNS-1123 name, e.g. kubernetes")));
    }

    let algo = s.encryption_algorithm.clone().unwrap_or_default();
    if algo != "ECDSA-P256" {
        return Err(invalid(
            "encryptionAlgorithm",
            format!("{algo:?} is not supported: kubeup issues ECDSA-P256 keys (accepted by every Kubernetes component); remove the field or set ECDSA-P256"),
        ));
    }

    let cert_validity = s.certificate_validity_period.unwrap_or_default().0;
    let ca_validity = s.ca_certificate_validity_period.unwrap_or_default().0;
    if cert_validity.is_zero() {
        return Err(invalid("certificateValidityPeriod", "must be longer than 0"));
    }
    if ca_validity < cert_validity {
        return Err(invalid("caCertificateValidityPeriod", "must not be shorter than certificateValidityPeriod"));
    }

    let service_subnet = s.networking.service_subnet.ok_or_else(|| invalid("networking.serviceSubnet", "not set"))?;
    // kubeadm: at least 10 addresses (the DNS Service is the 10th), at most 20 host bits.
    if service_subnet.host_bits() < 4 {
        return Err(invalid(
            "networking.serviceSubnet",
            format!("{service_subnet} is too small: the cluster DNS Service takes its 10th address, so use at least a /28 (IPv4) or /124 (IPv6)"),
        ));
    }
    if service_subnet.host_bits() > 20 {
        return Err(invalid(
            "networking.serviceSubnet",
            format!("{service_subnet} is too large: the API server allows at most 20 host bits (/12 for IPv4, /108 for IPv6)"),
        ));
    }
    let pod_network = match s.networking.pod_network.as_deref().unwrap_or("flannel") {
        "flannel" => super::PodNetwork::Flannel,
        "bridge" => super::PodNetwork::Bridge,
        "none" => super::PodNetwork::None,
        p if p.contains('/') || p.ends_with(".yaml") || p.ends_with(".yml") || p.ends_with(".json") => super::PodNetwork::Manifest(p.to_string()),
        other => {
            return Err(invalid(
                "networking.podNetwork",
                format!("{other:?} is not a pod network kubeup knows: use flannel, bridge, none, or the path of a manifest file"),
            ))
        }
    };
    // flannel and the bridge network need per-node pod CIDRs, so they get kubeadm users'
    // customary range when none is given (IPv4 only: an IPv6 range must be chosen).
    let pod_subnet = match (s.networking.pod_subnet, &pod_network) {
        (Some(p), _) => Some(p),
        (None, super::PodNetwork::Flannel | super::PodNetwork::Bridge) if service_subnet.is_ipv4() => "10.244.0.0/16".parse().ok(),
        (None, super::PodNetwork::Flannel | super::PodNetwork::Bridge) => {
            return Err(invalid(
                "networking.podSubnet",
                format!("the {pod_network} pod network needs a pod range for an IPv6 cluster: pass --pod-network-cidr"),
            ))
        }
        (None, _) => None,
    };
    if let Some(pod) = pod_subnet {
        if pod.host_bits() < 4 {
            return Err(invalid("networking.podSubnet", format!("{pod} is too small: use at least a /28 (IPv4)")));
        }
        if pod.is_ipv4() != service_subnet.is_ipv4() {
            return Err(invalid("networking.podSubnet", format!("{pod} and the service subnet {service_subnet} are of different IP families")));
        }
        if pod.overlaps(&service_subnet) {
            return Err(invalid(
                "networking.podSubnet",
                format!("{pod} overlaps the service subnet {service_subnet}: pod and Service addresses must not collide; choose e.g. 10.244.0.0/16"),
            ));
        }
    }
    let dns_domain = s.networking.dns_domain.clone().unwrap_or_default();
    if !is_dns_subdomain(&dns_domain) {
        return Err(invalid("networking.dnsDomain", format!("{dns_domain:?} must be a lower-case DNS name, e.g. cluster.local")));
    }

    let node_name = match s.node.name.clone().or_else(|| host.hostname.as_ref().map(|h| h.trim().to_lowercase())) {
        Some(n) => n,
        None => return Err(invalid("node.name", "not set and the host's hostname could not be read: pass --node-name")),
    };
    if !is_dns_subdomain(&node_name) {
        return Err(invalid("node.name", format!("{node_name:?} must be a lower-case DNS-1123 subdomain (letters, digits, '-', '.')")));
    }
    let advertise_address = match s.node.advertise_address.or(host.address) {
        Some(a) => a,
        None => {
            return Err(invalid(
                "node.advertiseAddress",
                "not set and no address of this host was found (no default route?): pass --apiserver-advertise-address",
            ))
        }
    };
    if !is_unicast(&advertise_address) {
        return Err(invalid("node.advertiseAddress", format!("{advertise_address} is not a unicast IP address")));
    }
    let bind_port = s.node.bind_port.unwrap_or(6443);
    if bind_port == 0 {
        return Err(invalid("node.bindPort", "must be between 1 and 65535"));
    }
    let control_plane_endpoint = match s.control_plane_endpoint.as_deref() {
        None | Some("") => None,
        Some(e) => Some(parse_endpoint(e, bind_port)?),
    };

    // The kubelet's driver must match the runtime's; kubeadm hard-codes systemd (kubeadm#2376),
    // kubeup asks the runtime and falls back to systemd.
    let cgroup_driver = s.node.cgroup_driver.clone().or_else(|| host.cgroup_driver.clone()).unwrap_or_else(|| "systemd".into());
    if cgroup_driver != "systemd" && cgroup_driver != "cgroupfs" {
        return Err(invalid("node.cgroupDriver", format!("{cgroup_driver:?} must be systemd or cgroupfs")));
    }
    // Like kubeadm: the socket that answers on this host, containerd's when none is known.
    let cri_socket = s.node.cri_socket.clone().or_else(|| host.cri_socket.clone()).unwrap_or_else(|| super::DEFAULT_CRI_SOCKET.into());
    if !cri_socket.starts_with("unix:///") {
        return Err(invalid("node.criSocket", format!("{cri_socket:?} must be a unix socket URL, e.g. unix:///run/containerd/containerd.sock")));
    }

    let image_repository = s.image_repository.clone().unwrap_or_default();
    if image_repository.is_empty() || image_repository.ends_with('/') || image_repository.contains(char::is_whitespace) {
        return Err(invalid("imageRepository", format!("{image_repository:?} must be a registry path such as registry.k8s.io")));
    }

    for san in &s.api_server.cert_sans {
        check_san("apiServer.certSANs", san)?;
    }
    for san in &s.etcd.server_cert_sans {
        check_san("etcd.serverCertSANs", san)?;
    }
    for san in &s.etcd.peer_cert_sans {
        check_san("etcd.peerCertSANs", san)?;
    }
    for (i, t) in s.bootstrap_tokens.iter().enumerate() {
        for u in &t.usages {
            if u != "signing" && u != "authentication" {
                return Err(invalid(&format!("bootstrapTokens[{i}].usages"), format!("{u:?} must be signing or authentication")));
            }
        }
        for g in &t.groups {
            if !is_bootstrap_group(g) {
                return Err(invalid(&format!("bootstrapTokens[{i}].groups"), format!("{g:?} must match system:bootstrappers:[a-z0-9:-]*[a-z0-9]")));
            }
        }
    }

    let renewal = super::renewal::resolve(&s.certificate_renewal).map_err(|(field, why)| invalid(field, why))?;
    let facts = version.facts();
    Ok(Config {
        renewal,
        cluster_name,
        control_plane_endpoint,
        image_repository,
        cert_dir: absolute("certificatesDir", s.certificates_dir.clone().unwrap_or_default())?,
        cert_validity,
        ca_validity,
        service_subnet,
        pod_subnet,
        dns_domain,
        node_name,
        advertise_address,
        bind_port,
        cri_socket,
        cgroup_driver,
        kubelet_image: s.node.kubelet_image.clone().unwrap_or_else(|| format!("{DEFAULT_KUBELET_IMAGE_REPOSITORY}:{}", version.tag())),
        kubelet_extra_args: s.node.kubelet_extra_args.clone(),
        apiserver_cert_sans: s.api_server.cert_sans.clone(),
        apiserver_extra_args: s.api_server.extra_args.clone(),
        controller_manager_extra_args: s.controller_manager.extra_args.clone(),
        scheduler_extra_args: s.scheduler.extra_args.clone(),
        etcd_data_dir: absolute("etcd.dataDir", s.etcd.data_dir.clone().unwrap_or_default())?,
        etcd_image_tag: s.etcd.image_tag.clone().unwrap_or_else(|| facts.etcd_tag.to_string()),
        etcd_server_cert_sans: s.etcd.server_cert_sans.clone(),
        etcd_peer_cert_sans: s.etcd.peer_cert_sans.clone(),
        etcd_extra_args: s.etcd.extra_args.clone(),
        bootstrap_tokens: s.bootstrap_tokens.clone(),
        ignore_preflight_errors: s.ignore_preflight_errors.iter().map(|e| e.to_lowercase()).collect(),
        skip_phases: s.skip_phases.clone(),
        pod_network,
        upload_certs: s.upload_certs.unwrap_or(false),
        certificate_key: match s.certificate_key.clone() {
            Some(k) => {
                crate::certificate_key::parse(&k).map_err(|e| invalid("certificateKey", e.to_string()))?;
                Some(k.trim().to_ascii_lowercase())
            }
            None => None,
        },
        etcd_initial_cluster: vec![],
        kubeup_image: s
            .kubeup_image
            .clone()
            .or_else(|| host.kubeup_image.clone().filter(|i| !i.starts_with("sha256:")))
            .unwrap_or_else(|| super::DEFAULT_KUBEUP_IMAGE.into()),
        kube_proxy_overrides: s.kube_proxy.clone().unwrap_or(serde_json::Value::Null),
        version,
    })
}

/// Kubernetes' rule for a bootstrap token's extra groups.
pub fn is_bootstrap_group(g: &str) -> bool {
    g.strip_prefix("system:bootstrappers:").is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 256
            && rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b':' || b == b'-')
            && rest.bytes().last().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}
