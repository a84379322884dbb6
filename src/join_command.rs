//! The `docker run … kubeup join …` line a person copies to another machine, built in one
//! place for `init`'s show-join-command, `kubeup token create --print-join-command` and
//! upload-certs' control-plane line.
//!
//! Pure.

use crate::token::BootstrapToken;

/// The installer's `docker run` prefix, exactly as the README gives it.
pub const DOCKER_RUN: &str = "docker run --rm --privileged --net=host --pid=host -v /:/host -v /var/run/docker.sock:/var/run/docker.sock kubeup";

/// `host:port` for a join line (`[v6]:port` for an IPv6 address).
pub fn endpoint(host: &str, port: u16) -> String {
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(_)) => format!("[{host}]:{port}"),
        _ => format!("{host}:{port}"),
    }
}

/// The worker join line.
pub fn worker(endpoint: &str, token: &BootstrapToken, ca_hash: &str) -> String {
    format!("{DOCKER_RUN} join {endpoint} --token {token} --discovery-token-ca-cert-hash {ca_hash}")
}

/// The control-plane join line (the worker line with the certificate key).
pub fn control_plane(endpoint: &str, token: &BootstrapToken, ca_hash: &str, certificate_key: &str) -> String {
    format!("{} --control-plane --certificate-key {certificate_key}", worker(endpoint, token, ca_hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_people_copy_them() {
        let t: BootstrapToken = "abcdef.0123456789abcdef".parse().unwrap();
        assert_eq!(endpoint("fd00::1", 6443), "[fd00::1]:6443");
        assert_eq!(
            worker("10.0.0.1:6443", &t, "sha256:aa"),
            "docker run --rm --privileged --net=host --pid=host -v /:/host -v /var/run/docker.sock:/var/run/docker.sock kubeup join 10.0.0.1:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:aa"
        );
        assert!(control_plane("h:1", &t, "sha256:aa", "00").ends_with("--control-plane --certificate-key 00"));
    }
}
