//! The subcommands of the command line and their own arguments.

use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::{Args, Subcommand};

use super::flags::{HostFlags, ImageFlags, InitFlags, JoinFlags, NodeFilesFlags};
use crate::output::Output;
use crate::phases::INIT_PHASES;

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
        node: NodeFilesFlags,
    },
    /// List bootstrap tokens.
    List {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Output::Text)]
        output: Output,
        /// Where the node's files are.
        #[command(flatten)]
        node: NodeFilesFlags,
    },
    /// Delete a bootstrap token (by id or whole token).
    Delete {
        /// Token id or token.
        token: String,
        /// Where the node's files are.
        #[command(flatten)]
        node: NodeFilesFlags,
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
        node: NodeFilesFlags,
    },
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
        /// The sha256 the bundle file must have (as printed by `sha256sum`); checked before anything is loaded.
        #[arg(long, value_name = "HEX")]
        sha256: Option<String>,
        /// Docker socket.
        #[arg(long, value_name = "PATH", default_value = "/var/run/docker.sock", env = "KUBEUP_DOCKER_SOCKET")]
        docker_socket: PathBuf,
    },
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
    /// Print when each certificate of this control-plane node expires, and when kubeup renews it (kubeadm's table).
    CheckExpiration {
        /// Where the node's files are.
        #[command(flatten)]
        files: NodeFilesFlags,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Renew certificates now (`all`, or kubeadm's names), then restart the static pods that read them, one at a time.
    Renew {
        /// `all`, or names: admin.conf, apiserver, apiserver-etcd-client, apiserver-kubelet-client, controller-manager.conf, etcd-healthcheck-client, etcd-peer, etcd-server, front-proxy-client, scheduler.conf, super-admin.conf.
        #[arg(value_name = "NAME")]
        names: Vec<String>,
        /// Certificate directory on the host.
        #[arg(long, value_name = "DIR", default_value = "/etc/kubernetes/pki")]
        cert_dir: String,
        /// Do not restart kube-apiserver, kube-controller-manager or kube-scheduler (restart them yourself).
        #[arg(long)]
        no_restart: bool,
        /// Print what would be renewed and restarted; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Host access.
        #[command(flatten)]
        host: HostFlags,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Run the certificate renewer of a control-plane node (the kubeup-cert-renewer container runs this): renews what is due, approves verified kubelet serving CSRs.
    Renewer {
        /// This node's name (the renewal Lease's holder; its Events go on this Node).
        #[arg(long, value_name = "NAME")]
        node_name: String,
        /// Certificate directory on the host.
        #[arg(long, value_name = "DIR", default_value = "/etc/kubernetes/pki")]
        cert_dir: String,
        /// How often pending kubelet serving CSRs are looked at.
        #[arg(long, value_name = "DURATION", default_value = "5s")]
        csr_interval: crate::config::GoDuration,
        /// Host access.
        #[command(flatten)]
        host: HostFlags,
    },
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
