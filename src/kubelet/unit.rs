//! The systemd unit for hosts where systemd supervises the kubelet container (Flatcar and
//! friends): a foreground `docker run --rm` derived from the same [`ContainerSpec`] Docker
//! would get, so there is exactly one description of the container.

use super::container::{ContainerSpec, Propagation};

/// The unit text. Docker's own restart policy must be `no` under this unit (one supervisor).
pub fn kubelet_unit(spec: &ContainerSpec) -> String {
    let mut run = vec![
        "/usr/bin/docker run --rm".to_string(),
        format!("--name {}", spec.name),
        "--privileged".into(),
        "--pid host --network host --uts host --cgroupns host".into(),
        format!("--log-opt max-size={} --log-opt max-file={}", spec.log_rotation.0, spec.log_rotation.1),
    ];
    for (k, v) in &spec.labels {
        run.push(format!("--label {k}={v}"));
    }
    for m in &spec.mounts {
        let mut opt = format!("--mount type=bind,src={},dst={}", m.source, m.target);
        if m.read_only {
            opt.push_str(",readonly");
        }
        match m.propagation {
            Some(Propagation::Rshared) => opt.push_str(",bind-propagation=rshared"),
            Some(Propagation::Rslave) => opt.push_str(",bind-propagation=rslave"),
            None => {}
        }
        run.push(opt);
    }
    run.push(spec.image.clone());
    run.extend(spec.args.iter().cloned());
    format!(
        "# Written by kubeup. The kubelet runs in a container; systemd is its only supervisor.\n\
[Unit]\n\
Description=Kubernetes kubelet (kubeup, in a container)\n\
Requires=docker.service\n\
After=docker.service network-online.target\n\
Wants=network-online.target\n\
\n\
[Service]\n\
ExecStartPre=/bin/mkdir -p /etc/kubernetes/manifests /var/lib/kubelet /opt/cni/bin /etc/cni/net.d /var/lib/cni /var/log/pods\n\
ExecStartPre=-/usr/bin/docker rm -f {name}\n\
ExecStart={exec}\n\
ExecStop=/usr/bin/docker stop -t 30 {name}\n\
Restart=always\n\
RestartSec=5\n\
TimeoutStartSec=0\n\
\n\
[Install]\n\
WantedBy=multi-user.target\n",
        name = spec.name,
        exec = run.join(" \\\n  ")
    )
}
