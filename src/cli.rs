//! The command line (kubeadm's names) and the dispatch of each command. Flags become one
//! [`Settings`] layer over the config file; results print as text or JSON (`-o json`).

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{Cidr, Settings};
use crate::phases::INIT_PHASES;
use crate::version::KubeVersion;
use crate::workflow::Selection;

/// Exit codes by class of failure.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// A phase failed (nothing half-written is left behind).
    pub const FAILED: u8 = 1;
    /// Bad usage or configuration.
    pub const USAGE: u8 = 2;
    /// Preflight errors.
    pub const PREFLIGHT: u8 = 3;
    /// The run stopped at a phase this version does not implement.
    pub const INCOMPLETE: u8 = 4;
}

/// kubeup: Kubernetes on any host that has Docker.
#[derive(Debug, Parser)]
#[command(name = "kubeup", version, about = "Kubernetes on any host that has Docker: kubeadm's cluster, no host packages", propagate_version = true)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set up this host as the first control-plane node.
    Init(Box<InitCommand>),
    /// Join this host to a cluster: a worker (secure discovery, TLS bootstrap) or, with --control-plane, another control-plane node.
    Join(Box<JoinCommand>),
    /// Configuration helpers.
    Config {
        /// What to do.
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Undo `init` or `join` on this host: containers, mounts, files and host fixes kubeup made.
    Reset(ResetFlags),
    /// Images a node needs, and air-gapped bundles of them.
    Images {
        /// What to do.
        #[command(subcommand)]
        command: ImagesCommand,
    },
    /// Bootstrap tokens of the cluster (run on a control-plane node).
    Token {
        /// What to do.
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Certificate helpers.
    Certs {
        /// What to do.
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// kubeconfig files for users.
    Kubeconfig {
        /// What to do.
        #[command(subcommand)]
        command: KubeconfigCommand,
    },
    /// The bridge pod network's per-node agent (runs in the kubeup-network DaemonSet).
    NetworkAgent(NetworkAgentFlags),
    /// Print kubeup's version and the Kubernetes versions it installs.
    Version {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

/// `kubeup init`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct InitCommand {
    /// Flags.
    #[command(flatten)]
    pub flags: InitFlags,
    /// `phase <name>`.
    #[command(subcommand)]
    pub sub: Option<InitSub>,
}

/// `kubeup init phase …`.
#[derive(Debug, Subcommand)]
pub enum InitSub {
    /// Run one phase of init (with an optional sub-phase, e.g. `certs apiserver`).
    Phase {
        /// Phase name, as kubeadm's.
        #[arg(value_parser = PossibleValuesParser::new(INIT_PHASES.iter().map(|p| p.name)))]
        name: String,
        /// Sub-phase (e.g. `apiserver` for `certs`, `admin` for `kubeconfig`).
        child: Option<String>,
        /// Flags.
        #[command(flatten)]
        flags: InitFlags,
    },
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    Text,
    /// For machines.
    Json,
}

/// `kubeup token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a bootstrap token (random unless given) and sign cluster-info for it.
    Create {
        /// The token ([a-z0-9]{6}.[a-z0-9]{16}); random when absent.
        token: Option<crate::token::BootstrapToken>,
        /// Lifetime (0 = never expires).
        #[arg(long, default_value = "24h")]
        ttl: crate::config::GoDuration,
        /// Usages.
        #[arg(long, value_delimiter = ',', default_value = "signing,authentication")]
        usages: Vec<String>,
        /// Extra groups (system:bootstrappers:…).
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        /// Description.
        #[arg(long, default_value = "")]
        description: String,
        /// Print the full join command instead of the token.
        #[arg(long)]
        print_join_command: bool,
        /// Where the node's files are.
        #[command(flatten)]
        node: NodeFiles,
    },
    /// List bootstrap tokens.
    List {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Output::Text)]
        output: Output,
        /// Where the node's files are.
        #[command(flatten)]
        node: NodeFiles,
    },
    /// Delete a bootstrap token (by id or whole token).
    Delete {
        /// Token id or token.
        token: String,
        /// Where the node's files are.
        #[command(flatten)]
        node: NodeFiles,
    },
    /// Print a new random token (creates nothing).
    Generate,
}

/// `kubeup kubeconfig …`.
#[derive(Debug, Subcommand)]
pub enum KubeconfigCommand {
    /// A kubeconfig for a user, signed by the cluster CA.
    User {
        /// User name (certificate CN).
        #[arg(long)]
        client_name: String,
        /// Groups (certificate O), at most two.
        #[arg(long = "org")]
        orgs: Vec<String>,
        /// Certificate lifetime.
        #[arg(long, default_value = "8760h")]
        validity_period: crate::config::GoDuration,
        /// Write it here (mode 0600) instead of printing it.
        #[arg(long, value_name = "FILE")]
        output_file: Option<PathBuf>,
        /// Where the node's files are.
        #[command(flatten)]
        node: NodeFiles,
    },
}

/// Where a control-plane node's files are.
#[derive(Debug, Args, Clone)]
pub struct NodeFiles {
    /// The host's root file system.
    #[arg(long, value_name = "DIR", default_value = "/host", env = "KUBEUP_HOST_ROOT")]
    pub host_root: PathBuf,
    /// Certificate directory on the host.
    #[arg(long, value_name = "DIR", default_value = "/etc/kubernetes/pki")]
    pub cert_dir: String,
}

/// `kubeup images …`.
#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// List every image a node needs for this configuration.
    List {
        /// Which images.
        #[command(flatten)]
        flags: ImageFlags,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Save those images from Docker into a gzipped bundle.
    Save {
        /// Bundle file to write.
        #[arg(short = 'o', long = "output-file", value_name = "FILE")]
        file: PathBuf,
        /// Save exactly these images instead of the configuration's set (repeatable).
        #[arg(long = "image", value_name = "IMAGE")]
        images: Vec<String>,
        /// Which images.
        #[command(flatten)]
        flags: ImageFlags,
    },
    /// Check a bundle completely, then load it into Docker (nothing is loaded from a bad bundle).
    Load {
        /// Bundle file.
        file: PathBuf,
        /// Docker socket.
        #[arg(long, value_name = "PATH", default_value = "/var/run/docker.sock", env = "KUBEUP_DOCKER_SOCKET")]
        docker_socket: PathBuf,
    },
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

/// `kubeup config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print default configurations.
    Print {
        /// Which defaults.
        #[command(subcommand)]
        what: PrintWhat,
    },
}

/// `kubeup config print …`.
#[derive(Debug, Subcommand)]
pub enum PrintWhat {
    /// The defaults of `kubeup init` as a kubeup config file.
    InitDefaults,
}

/// `kubeup certs …`.
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Print a new random key for `init --upload-certs --certificate-key` (64 hex characters).
    CertificateKey,
}

/// `kubeup join`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct JoinCommand {
    /// Flags.
    #[command(flatten)]
    pub flags: JoinFlags,
    /// `phase <name>`.
    #[command(subcommand)]
    pub sub: Option<JoinSub>,
}

/// `kubeup join phase …`.
#[derive(Debug, Subcommand)]
pub enum JoinSub {
    /// Run one phase of join (`discovery` verifies the cluster and prints what it found, writing nothing).
    Phase {
        /// Phase name.
        #[arg(value_parser = PossibleValuesParser::new(["discovery", "preflight", "prepare-host", "kubelet-start", "kubelet-wait-bootstrap"]))]
        name: String,
        /// Flags.
        #[command(flatten)]
        flags: JoinFlags,
    },
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
    /// CRI endpoint of the kubelet.
    #[arg(long, value_name = "URL")]
    pub cri_socket: Option<String>,
    /// Kubelet cgroup driver (systemd or cgroupfs).
    #[arg(long, value_name = "DRIVER")]
    pub cgroup_driver: Option<String>,
    /// Kubelet container image.
    #[arg(long, value_name = "IMAGE")]
    pub kubelet_image: Option<String>,
    /// kubeup's own image (copied into containerd for the bridge network's agent).
    #[arg(long, value_name = "IMAGE")]
    pub kubeup_image: Option<String>,
    /// Join as a control-plane node (stacked etcd), with the certificates `init --upload-certs` uploaded.
    #[arg(long)]
    pub control_plane: bool,
    /// Key of the uploaded control-plane certificates (with --control-plane).
    #[arg(long, value_name = "KEY")]
    pub certificate_key: Option<String>,
    /// Phases to skip.
    #[arg(long, value_name = "PHASES", value_delimiter = ',')]
    pub skip_phases: Vec<String>,
    /// Preflight checks whose errors become warnings (`all` for every check).
    #[arg(long, value_name = "CHECKS", value_delimiter = ',')]
    pub ignore_preflight_errors: Vec<String>,
    /// Discover and print what would be done; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only report what the host needs; change none of it.
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

/// `kubeup network-agent`.
#[derive(Debug, Args, Clone)]
pub struct NetworkAgentFlags {
    /// This node's name.
    #[arg(long, value_name = "NAME")]
    pub node_name: String,
    /// API server URL.
    #[arg(long, value_name = "URL")]
    pub apiserver: String,
    /// CNI configuration directory.
    #[arg(long, value_name = "DIR", default_value = "/etc/cni/net.d")]
    pub cni_conf_dir: PathBuf,
    /// Seconds between passes.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    pub interval: u64,
    /// One pass, then exit.
    #[arg(long)]
    pub once: bool,
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
    /// kubeup's own image, for the bridge network's agent (default: the image this runs as).
    #[arg(long, value_name = "IMAGE")]
    pub kubeup_image: Option<String>,
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
    /// CRI endpoint of the kubelet.
    #[arg(long, value_name = "URL")]
    pub cri_socket: Option<String>,
    /// Kubelet cgroup driver (systemd or cgroupfs).
    #[arg(long, value_name = "DRIVER")]
    pub cgroup_driver: Option<String>,
    /// Kubelet container image.
    #[arg(long, value_name = "IMAGE")]
    pub kubelet_image: Option<String>,
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
    /// Upload the shared control-plane certificates, encrypted, to Secret kube-system/kubeadm-certs (2 h).
    #[arg(long)]
    pub upload_certs: bool,
    /// The key that encrypts the uploaded certificates (default: a new random key).
    #[arg(long, value_name = "KEY")]
    pub certificate_key: Option<String>,
    /// Load this image bundle (from `kubeup images save`) into Docker before starting anything.
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
        f.cri_socket = f.cri_socket.or(file.cri_socket);
        f.node_ip = f.node_ip.or(file.advertise_address);
        f.apiserver_bind_port = f.apiserver_bind_port.or(file.bind_port);
        f.control_plane |= file.control_plane;
        f.certificate_key = f.certificate_key.or(file.certificate_key);
        if f.skip_phases.is_empty() {
            f.skip_phases = file.skip_phases;
        }
        f.ignore_preflight_errors.extend(file.ignore_preflight_errors);
        f
    }
}

impl InitFlags {
    /// The flags as a configuration layer.
    pub fn settings(&self) -> Settings {
        let mut s = Settings { kubernetes_version: self.kubernetes_version.clone(), ..Default::default() };
        s.node.advertise_address = self.apiserver_advertise_address;
        s.node.bind_port = self.apiserver_bind_port;
        s.node.name = self.node_name.clone();
        s.node.cri_socket = self.cri_socket.clone();
        s.node.cgroup_driver = self.cgroup_driver.clone();
        s.node.kubelet_image = self.kubelet_image.clone();
        s.control_plane_endpoint = self.control_plane_endpoint.clone();
        s.networking.pod_subnet = self.pod_network_cidr;
        s.networking.pod_network = self.pod_network.clone();
        s.kubeup_image = self.kubeup_image.clone();
        s.networking.service_subnet = self.service_cidr;
        s.networking.dns_domain = self.service_dns_domain.clone();
        s.api_server.cert_sans = self.apiserver_cert_extra_sans.clone();
        s.certificates_dir = self.cert_dir.clone();
        s.image_repository = self.image_repository.clone();
        s.skip_phases = self.skip_phases.clone();
        s.ignore_preflight_errors = self.ignore_preflight_errors.clone();
        s.upload_certs = self.upload_certs.then_some(true);
        s.certificate_key = self.certificate_key.clone();
        s
    }
}

/// Write to stdout, ignoring a closed pipe (`kubeup … | head`).
fn out(text: &str) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}

fn fail(code: u8, msg: &str) -> u8 {
    eprintln!("error: {msg}");
    code
}

/// Run a parsed command; returns the process exit code.
pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Init(init) => match init.sub {
            None => block_on(crate::commands::init(&init.flags, Selection::All)),
            Some(InitSub::Phase { name, child, flags }) => block_on(crate::commands::init(&flags, Selection::One(name, child))),
        },
        Command::Reset(flags) => block_on(crate::commands::reset(&flags)),
        Command::Join(join) => match join.sub {
            None => block_on(crate::join::join(&join.flags, Selection::All)),
            Some(JoinSub::Phase { name, flags }) => block_on(crate::join::join(&flags, Selection::One(name, None))),
        },
        Command::Token { command } => run_token(command),
        Command::Kubeconfig { command: KubeconfigCommand::User { client_name, orgs, validity_period, output_file, node } } => {
            match crate::host::HostRoot::open(&node.host_root) {
                Ok(root) => crate::operate::kubeconfig_user(&root, &node.cert_dir, &client_name, &orgs, validity_period.0, output_file.as_deref()),
                Err(e) => fail(exit::USAGE, &e.to_string()),
            }
        }
        Command::Images { command } => block_on(crate::commands::images(command)),
        Command::Certs { command: CertsCommand::CertificateKey } => match crate::pki::upload::generate_key() {
            Ok(k) => {
                out(&format!("{k}\n"));
                exit::OK
            }
            Err(e) => fail(exit::FAILED, &e.to_string()),
        },
        Command::NetworkAgent(f) => {
            let args = crate::network::AgentArgs {
                node_name: f.node_name,
                apiserver: f.apiserver,
                cni_conf_dir: f.cni_conf_dir,
                interval: std::time::Duration::from_secs(f.interval.max(1)),
                once: f.once,
            };
            block_on(async move {
                match crate::network::run(args).await {
                    Ok(()) => exit::OK,
                    Err(e) => fail(exit::FAILED, &e),
                }
            })
        }
        Command::Config { command: ConfigCommand::Print { what: PrintWhat::InitDefaults } } => match crate::yaml::to_string(&Settings::defaults()) {
            Ok(y) => {
                out(&y);
                exit::OK
            }
            Err(e) => fail(exit::FAILED, &e),
        },
        Command::Version { output } => {
            let v = serde_json::json!({
                "kubeup": env!("CARGO_PKG_VERSION"),
                "defaultKubernetesVersion": crate::version::DEFAULT_KUBERNETES_VERSION,
                "supportedKubernetesMinors": format!("v1.{}–v1.{}", crate::version::MIN_MINOR, crate::version::newest_minor()),
            });
            match output {
                Output::Json => out(&format!("{v:#}\n")),
                Output::Text => out(&format!(
                    "kubeup {} (Kubernetes v1.{}.0 to v1.{}.x; default {})\n",
                    env!("CARGO_PKG_VERSION"),
                    crate::version::MIN_MINOR,
                    crate::version::newest_minor(),
                    crate::version::DEFAULT_KUBERNETES_VERSION
                )),
            }
            exit::OK
        }
    }
}

fn run_token(cmd: TokenCommand) -> u8 {
    let open = |n: &NodeFiles| crate::host::HostRoot::open(&n.host_root).map_err(|e| fail(exit::USAGE, &e.to_string()));
    match cmd {
        TokenCommand::Generate => match crate::token::BootstrapToken::generate() {
            Ok(t) => {
                out(&format!("{t}\n"));
                exit::OK
            }
            Err(e) => fail(exit::FAILED, &e.to_string()),
        },
        TokenCommand::Create { token, ttl, usages, groups, description, print_join_command, node } => match open(&node) {
            Ok(root) => {
                let o = crate::operate::CreateToken { token, ttl: ttl.0, usages, groups, description, print_join_command };
                block_on(crate::operate::token_create(&root, &node.cert_dir, o))
            }
            Err(code) => code,
        },
        TokenCommand::List { output, node } => match open(&node) {
            Ok(root) => block_on(crate::operate::token_list(&root, output)),
            Err(code) => code,
        },
        TokenCommand::Delete { token, node } => match open(&node) {
            Ok(root) => block_on(crate::operate::token_delete(&root, &token)),
            Err(code) => code,
        },
    }
}

/// Run a command future on a single-threaded runtime (host commands fork their own
/// single-threaded children; nothing here needs more threads).
fn block_on(f: impl std::future::Future<Output = u8>) -> u8 {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt.block_on(f),
        Err(e) => fail(exit::FAILED, &format!("cannot start the async runtime: {e}")),
    }
}

/// Print a line to stdout.
pub fn say(text: &str) {
    out(text);
}

/// Print an error and return its exit code.
pub fn error(code: u8, msg: &str) -> u8 {
    fail(code, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
