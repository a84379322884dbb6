//! The flag groups of the host commands (kubeadm's names), and how each becomes a command's
//! request: [`HostFlags`] and [`NodeFlags`] are shared by `init`, `join` (and `reset`, the host
//! part); [`InitFlags`] and [`JoinFlags`] add what is their own.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Args;

use crate::apply::HostAccess;
use crate::commands::HostRequest;
use crate::config::{Cidr, Settings};
use crate::output::Output;
use crate::version::KubeVersion;

/// How kubeup reaches the host.
#[derive(Debug, Args, Clone)]
pub struct HostFlags {
    /// Where the host's root file system is (bind-mount it with -v /:/host).
    #[arg(long, value_name = "DIR", default_value = "/host", env = "KUBEUP_HOST_ROOT")]
    pub host_root: PathBuf,
    /// The Docker engine's socket (bind-mount it with -v /var/run/docker.sock:/var/run/docker.sock).
    #[arg(long, value_name = "PATH", default_value = "/var/run/docker.sock", env = "KUBEUP_DOCKER_SOCKET")]
    pub docker_socket: PathBuf,
    /// Process whose namespaces host commands enter (the host's init with --pid=host).
    #[arg(long, value_name = "PID", default_value_t = 1)]
    pub host_pid: u32,
    /// Name prefix of the containers kubeup creates.
    #[arg(long, value_name = "PREFIX", default_value = "kubeup")]
    pub container_prefix: String,
    /// Extra label for every container kubeup creates (KEY=VALUE, repeatable).
    #[arg(long = "container-label", value_name = "KEY=VALUE")]
    pub container_labels: Vec<String>,
}

impl HostFlags {
    /// As a command's host request.
    pub fn request(&self) -> HostRequest {
        HostRequest {
            access: HostAccess { host_root: self.host_root.clone(), docker_socket: self.docker_socket.clone(), host_pid: self.host_pid },
            container_prefix: self.container_prefix.clone(),
            container_labels: self.container_labels.clone(),
        }
    }
}

/// What `init` and `join` share: the node's runtime, images, phases and output.
#[derive(Debug, Args, Clone)]
pub struct NodeFlags {
    /// CRI endpoint of the kubelet.
    #[arg(long, value_name = "URL")]
    pub cri_socket: Option<String>,
    /// Kubelet cgroup driver (systemd or cgroupfs).
    #[arg(long, value_name = "DRIVER")]
    pub cgroup_driver: Option<String>,
    /// Kubelet container image.
    #[arg(long, value_name = "IMAGE")]
    pub kubelet_image: Option<String>,
    /// kubeup's own image, for the bridge network's agent (default: the image this runs as).
    #[arg(long, value_name = "IMAGE")]
    pub kubeup_image: Option<String>,
    /// Phases to skip.
    #[arg(long, value_name = "PHASES", value_delimiter = ',')]
    pub skip_phases: Vec<String>,
    /// Preflight checks whose errors become warnings (`all` for every check).
    #[arg(long, value_name = "CHECKS", value_delimiter = ',')]
    pub ignore_preflight_errors: Vec<String>,
    /// Print what would be done; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only report what the host needs (modules, sysctls, shared mount); change none of it.
    #[arg(long)]
    pub no_host_fixes: bool,
    /// Load this image bundle (from `kubeup images save`) before starting anything.
    #[arg(long, value_name = "FILE")]
    pub image_bundle: Option<PathBuf>,
    /// The sha256 the image bundle file must have (as printed by `sha256sum`); checked before anything is loaded.
    #[arg(long, value_name = "HEX", requires = "image_bundle")]
    pub image_bundle_sha256: Option<String>,
    /// Host access.
    #[command(flatten)]
    pub host: HostFlags,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

impl NodeFlags {
    /// As the commands take them.
    pub fn options(&self) -> crate::commands::NodeOptions {
        crate::commands::NodeOptions {
            dry_run: self.dry_run,
            output: self.output,
            no_host_fixes: self.no_host_fixes,
            image_bundle: self.image_bundle.clone(),
            image_bundle_sha256: self.image_bundle_sha256.clone(),
        }
    }

    /// Their part of a configuration layer.
    pub fn layer(&self, s: &mut Settings) {
        s.node.cri_socket = self.cri_socket.clone();
        s.node.cgroup_driver = self.cgroup_driver.clone();
        s.node.kubelet_image = self.kubelet_image.clone();
        s.kubeup_image = self.kubeup_image.clone();
        s.skip_phases = self.skip_phases.clone();
        s.ignore_preflight_errors = self.ignore_preflight_errors.clone();
    }
}

/// Flags of `init` and `init phase`.
#[derive(Debug, Args, Clone)]
pub struct InitFlags {
    /// Config file (kubeup's, or kubeadm's InitConfiguration + ClusterConfiguration), YAML or JSON.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Kubernetes version to install.
    #[arg(long, value_name = "VERSION")]
    pub kubernetes_version: Option<KubeVersion>,
    /// Address the API server advertises.
    #[arg(long, value_name = "IP")]
    pub apiserver_advertise_address: Option<IpAddr>,
    /// Port the API server binds.
    #[arg(long, value_name = "PORT")]
    pub apiserver_bind_port: Option<u16>,
    /// Shared endpoint (host[:port]) of the control plane.
    #[arg(long, value_name = "ENDPOINT")]
    pub control_plane_endpoint: Option<String>,
    /// Node name (default: the host's hostname).
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// Pod network range; the controller-manager allocates node pod CIDRs from it.
    #[arg(long, value_name = "CIDR")]
    pub pod_network_cidr: Option<Cidr>,
    /// Pod network to install: flannel, bridge (no extra image: kubeup's own agent), none, or a manifest file.
    #[arg(long, value_name = "NETWORK")]
    pub pod_network: Option<String>,
    /// Service IP range.
    #[arg(long, value_name = "CIDR")]
    pub service_cidr: Option<Cidr>,
    /// Cluster DNS domain.
    #[arg(long, value_name = "DOMAIN")]
    pub service_dns_domain: Option<String>,
    /// Extra API server certificate SANs (IPs or DNS names).
    #[arg(long, value_name = "SANS", value_delimiter = ',')]
    pub apiserver_cert_extra_sans: Vec<String>,
    /// Certificate directory on the host.
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<String>,
    /// Registry of the control-plane images.
    #[arg(long, value_name = "REPOSITORY")]
    pub image_repository: Option<String>,
    /// Upload the shared control-plane certificates, encrypted, to Secret kube-system/kubeadm-certs (2 h).
    #[arg(long)]
    pub upload_certs: bool,
    /// The key that encrypts the uploaded certificates (default: a new random key).
    #[arg(long, value_name = "KEY")]
    pub certificate_key: Option<String>,
    /// What init and join share.
    #[command(flatten)]
    pub node: NodeFlags,
}

impl InitFlags {
    /// The flags as a configuration layer.
    pub fn settings(&self) -> Settings {
        let mut s = Settings { kubernetes_version: self.kubernetes_version.clone(), ..Default::default() };
        self.node.layer(&mut s);
        s.node.advertise_address = self.apiserver_advertise_address;
        s.node.bind_port = self.apiserver_bind_port;
        s.node.name = self.node_name.clone();
        s.control_plane_endpoint = self.control_plane_endpoint.clone();
        s.networking.pod_subnet = self.pod_network_cidr;
        s.networking.pod_network = self.pod_network.clone();
        s.networking.service_subnet = self.service_cidr;
        s.networking.dns_domain = self.service_dns_domain.clone();
        s.api_server.cert_sans = self.apiserver_cert_extra_sans.clone();
        s.certificates_dir = self.cert_dir.clone();
        s.image_repository = self.image_repository.clone();
        s.upload_certs = self.upload_certs.then_some(true);
        s.certificate_key = self.certificate_key.clone();
        s
    }
}

/// Flags of `join`.
#[derive(Debug, Args, Clone)]
pub struct JoinFlags {
    /// The API server to discover the cluster from (host:port).
    #[arg(value_name = "ENDPOINT")]
    pub endpoint: Option<String>,
    /// The bootstrap token (discovery and TLS bootstrap).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Pin of the cluster CA's public key, sha256:<hex> (repeatable).
    #[arg(long = "discovery-token-ca-cert-hash", value_name = "HASH")]
    pub ca_cert_hashes: Vec<String>,
    /// Trust the cluster CA without a pin (insecure: anyone who knows the token can impersonate the cluster).
    #[arg(long)]
    pub discovery_token_unsafe_skip_ca_verification: bool,
    /// A kubeconfig file with the API server and CA, instead of token discovery.
    #[arg(long, value_name = "FILE")]
    pub discovery_file: Option<String>,
    /// How long discovery waits for the cluster (default 5m).
    #[arg(long, value_name = "DURATION")]
    pub discovery_timeout: Option<crate::config::GoDuration>,
    /// A kubeadm JoinConfiguration (v1beta3 or v1beta4), so the token and certificate key need not be on the command line; flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Node name (default: the host's hostname).
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// The node's IP for the kubelet, and its API server's with --control-plane (default: an address of this host).
    #[arg(long = "apiserver-advertise-address", alias = "node-ip", value_name = "IP")]
    pub node_ip: Option<IpAddr>,
    /// The port this node's API server binds (with --control-plane).
    #[arg(long, value_name = "PORT")]
    pub apiserver_bind_port: Option<u16>,
    /// Join as a control-plane node (stacked etcd), with the certificates `init --upload-certs` uploaded.
    #[arg(long)]
    pub control_plane: bool,
    /// Key of the uploaded control-plane certificates (with --control-plane).
    #[arg(long, value_name = "KEY")]
    pub certificate_key: Option<String>,
    /// What init and join share.
    #[command(flatten)]
    pub node: NodeFlags,
    /// `nodeRegistration.kubeletExtraArgs` of a `--config` JoinConfiguration (no flag of its own).
    #[arg(skip)]
    pub kubelet_extra_args: std::collections::BTreeMap<String, String>,
}

impl JoinFlags {
    /// These flags over a JoinConfiguration: a flag given wins, the file fills the rest.
    pub fn over(&self, file: crate::config::join_config::JoinSettings) -> JoinFlags {
        let mut f = self.clone();
        f.endpoint = f.endpoint.or(file.endpoint);
        f.token = f.token.or(file.token);
        if f.ca_cert_hashes.is_empty() {
            f.ca_cert_hashes = file.ca_cert_hashes;
        }
        f.discovery_token_unsafe_skip_ca_verification |= file.unsafe_skip_ca_verification;
        f.discovery_file = f.discovery_file.or(file.discovery_file);
        f.discovery_timeout = f.discovery_timeout.or(file.discovery_timeout);
        f.node_name = f.node_name.or(file.node_name);
        f.node.cri_socket = f.node.cri_socket.or(file.cri_socket);
        f.node_ip = f.node_ip.or(file.advertise_address);
        f.apiserver_bind_port = f.apiserver_bind_port.or(file.bind_port);
        f.control_plane |= file.control_plane;
        f.certificate_key = f.certificate_key.or(file.certificate_key);
        if f.node.skip_phases.is_empty() {
            f.node.skip_phases = file.skip_phases;
        }
        f.node.ignore_preflight_errors.extend(file.ignore_preflight_errors);
        f.kubelet_extra_args = file.kubelet_extra_args;
        f
    }

    /// The node's flags as a configuration layer (the cluster's configuration is read from it).
    pub fn settings(&self) -> Settings {
        let mut s = Settings::default();
        self.node.layer(&mut s);
        s.node.name = self.node_name.clone();
        s.node.advertise_address = self.node_ip;
        s.node.bind_port = self.apiserver_bind_port;
        s.node.kubelet_extra_args = self.kubelet_extra_args.clone();
        s
    }
}

/// `kubeup reset` flags.
#[derive(Debug, Args, Clone)]
pub struct ResetFlags {
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// List what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also delete the etcd data directory's contents.
    #[arg(long)]
    pub remove_etcd_data: bool,
    /// Certificate directory.
    #[arg(long, value_name = "DIR", default_value = "/etc/kubernetes/pki")]
    pub cert_dir: String,
    /// etcd data directory.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/etcd")]
    pub etcd_data_dir: String,
    /// Host access.
    #[command(flatten)]
    pub host: HostFlags,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// Where a control-plane node's files are (`token`, `kubeconfig user`).
#[derive(Debug, Args, Clone)]
pub struct NodeFilesFlags {
    /// The host's root file system.
    #[arg(long, value_name = "DIR", default_value = "/host", env = "KUBEUP_HOST_ROOT")]
    pub host_root: PathBuf,
    /// Certificate directory on the host.
    #[arg(long, value_name = "DIR", default_value = "/etc/kubernetes/pki")]
    pub cert_dir: String,
}

impl NodeFilesFlags {
    /// As the commands take it.
    pub fn files(&self) -> crate::commands::token::NodeFiles {
        crate::commands::token::NodeFiles { host_root: self.host_root.clone(), cert_dir: self.cert_dir.clone() }
    }
}

/// Flags that decide the image set.
#[derive(Debug, Args, Clone)]
pub struct ImageFlags {
    /// Config file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Kubernetes version.
    #[arg(long, value_name = "VERSION")]
    pub kubernetes_version: Option<KubeVersion>,
    /// Image registry.
    #[arg(long, value_name = "REPOSITORY")]
    pub image_repository: Option<String>,
    /// Kubelet image.
    #[arg(long, value_name = "IMAGE")]
    pub kubelet_image: Option<String>,
    /// Pod network (flannel, bridge, none, or a manifest file): decides the network's images.
    #[arg(long, value_name = "NETWORK")]
    pub pod_network: Option<String>,
    /// kubeup's own image (the bridge network's agent).
    #[arg(long, value_name = "IMAGE")]
    pub kubeup_image: Option<String>,
    /// Docker socket.
    #[arg(long, value_name = "PATH", default_value = "/var/run/docker.sock", env = "KUBEUP_DOCKER_SOCKET")]
    pub docker_socket: PathBuf,
}

impl ImageFlags {
    /// As the commands take it.
    pub fn set(&self) -> crate::commands::images::ImageSet {
        let mut s = Settings { kubernetes_version: self.kubernetes_version.clone(), image_repository: self.image_repository.clone(), ..Default::default() };
        s.node.kubelet_image = self.kubelet_image.clone();
        s.networking.pod_network = self.pod_network.clone();
        s.kubeup_image = self.kubeup_image.clone();
        crate::commands::images::ImageSet { config_file: self.config.clone(), settings: s }
    }
}
