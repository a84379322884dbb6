//! The command line (kubeadm's names): parse, turn the flags into a command's request, run it,
//! print its error once and exit with its class's code. Nothing below this module imports it.

pub mod api_proxy;
pub mod commands;
pub mod flags;

use clap::{Parser, Subcommand};

use crate::commands::{self as cmd, CommandError};
use crate::config::Settings;
use crate::output::{self, exit, say, Output};
use crate::workflow::Selection;
use commands::{
    CertsCommand, ConfigCommand, ImagesCommand, InitCommand, InitSub, JoinCommand, JoinSub, KubeconfigCommand, NetworkAgentFlags, PrintWhat, TokenCommand,
};
use flags::{InitFlags, JoinFlags, ResetFlags};

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
    /// The node-local API load balancer of a worker (runs in the kubeup-api-proxy container); `--status` shows its backends.
    ApiProxy(api_proxy::ApiProxyFlags),
    /// Print a shell completion script: `source <(kubeup completion bash)`, or save it where your shell loads completions.
    Completion {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print kubeup's version and the Kubernetes versions it installs.
    Version {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

fn init_request(f: &InitFlags, selection: Selection) -> cmd::init::InitRequest {
    cmd::init::InitRequest { host: f.node.host.request(), config_file: f.config.clone(), settings: f.settings(), selection, node: f.node.options() }
}

fn join_request(f: &JoinFlags, selection: Selection) -> Result<cmd::join::JoinRequest, CommandError> {
    let f = match &f.config {
        Some(path) => f.over(crate::config::join_config::load(path).map_err(CommandError::Usage)?),
        None => f.clone(),
    };
    Ok(cmd::join::JoinRequest {
        host: f.node.host.request(),
        endpoint: f.endpoint.clone(),
        token: f.token.clone(),
        ca_cert_hashes: f.ca_cert_hashes.clone(),
        unsafe_skip_ca_verification: f.discovery_token_unsafe_skip_ca_verification,
        discovery_file: f.discovery_file.clone(),
        discovery_timeout: f.discovery_timeout.map(|d| d.0).unwrap_or(std::time::Duration::from_secs(300)),
        settings: f.settings(),
        control_plane: f.control_plane,
        certificate_key: f.certificate_key.clone(),
        selection,
        node: f.node.options(),
    })
}

fn reset_request(f: &ResetFlags) -> cmd::reset::ResetRequest {
    cmd::reset::ResetRequest {
        host: f.host.request(),
        options: crate::reset::ResetOptions { remove_etcd_data: f.remove_etcd_data, cert_dir: f.cert_dir.clone(), etcd_data_dir: f.etcd_data_dir.clone() },
        force: f.force,
        dry_run: f.dry_run,
        output: f.output,
    }
}

/// Run a parsed command; returns the process exit code.
pub fn run(cli: Cli) -> u8 {
    match dispatch(cli) {
        Ok(()) => exit::OK,
        Err(e) => {
            output::error(&e.to_string());
            e.exit_code()
        }
    }
}

fn dispatch(cli: Cli) -> Result<(), CommandError> {
    match cli.command {
        Command::Init(init) => match init.sub {
            None => block_on(cmd::init::init(init_request(&init.flags, Selection::All))),
            Some(InitSub::Phase { name, child, flags }) => block_on(cmd::init::init(init_request(&flags, Selection::One(name, child)))),
        },
        Command::Join(join) => {
            let (flags, selection) = match &join.sub {
                None => (&join.flags, Selection::All),
                Some(JoinSub::Phase { name, flags }) => (flags, Selection::One(name.clone(), None)),
            };
            let req = join_request(flags, selection)?;
            block_on(cmd::join::join(req))
        }
        Command::Reset(flags) => block_on(cmd::reset::reset(reset_request(&flags))),
        Command::Token { command } => match command {
            TokenCommand::Generate => cmd::token::generate(),
            TokenCommand::Create { token, ttl, usages, groups, description, print_join_command, node } => {
                let o = cmd::token::CreateToken { token, ttl: ttl.0, usages, groups, description, print_join_command };
                block_on(cmd::token::create(&node.files(), o))
            }
            TokenCommand::List { output, node } => block_on(cmd::token::list(&node.files(), output)),
            TokenCommand::Delete { token, node } => block_on(cmd::token::delete(&node.files(), &token)),
        },
        Command::Kubeconfig { command: KubeconfigCommand::User { client_name, orgs, validity_period, output_file, node } } => {
            let req = cmd::kubeconfig::UserRequest { name: client_name, orgs, validity: validity_period.0, output_file };
            cmd::kubeconfig::user(&node.files(), &req)
        }
        Command::Images { command } => match command {
            ImagesCommand::List { flags, output } => cmd::images::list(&flags.set(), output),
            ImagesCommand::Save { file, images, flags } => block_on(cmd::images::save(&flags.set(), images, &file, &flags.docker_socket)),
            ImagesCommand::Load { file, sha256, docker_socket } => block_on(cmd::images::load(&file, sha256.as_deref(), &docker_socket)),
        },
        Command::Certs { command: CertsCommand::CertificateKey } => {
            let k = crate::certificate_key::generate().map_err(|e| CommandError::Refused(format!("cannot make a certificate key: {e}")))?;
            say(&format!("{k}\n"));
            Ok(())
        }
        Command::Certs { command: CertsCommand::CheckExpiration { files, output } } => cmd::certs::check_expiration(&files.files(), output),
        Command::Certs { command: CertsCommand::Renew { names, cert_dir, no_restart, dry_run, host, output } } => {
            block_on(cmd::certs::renew(cmd::certs::RenewRequest { host: host.request(), cert_dir, names, no_restart, dry_run, output }))
        }
        Command::Certs { command: CertsCommand::Renewer { node_name, cert_dir, csr_interval, host } } => {
            block_on(cmd::renewer::run(cmd::renewer::RenewerRequest { host: host.request(), cert_dir, node_name, csr_interval: csr_interval.0 }))
        }
        Command::ApiProxy(f) => api_proxy::run(f),
        Command::NetworkAgent(f) => {
            let args = crate::network::AgentArgs {
                node_name: f.node_name,
                apiserver: f.apiserver,
                cni_conf_dir: f.cni_conf_dir,
                interval: std::time::Duration::from_secs(f.interval.max(1)),
                once: f.once,
            };
            block_on(async move { crate::network::run(args).await.map_err(CommandError::Refused) })
        }
        Command::Config { command: ConfigCommand::Print { what: PrintWhat::InitDefaults } } => {
            say(&crate::yaml::to_string(&Settings::defaults()).map_err(CommandError::Refused)?);
            Ok(())
        }
        Command::Completion { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "kubeup", &mut std::io::stdout());
            Ok(())
        }
        Command::Version { output } => {
            version(output);
            Ok(())
        }
    }
}

fn version(output: Output) {
    use crate::version::{newest_minor, DEFAULT_KUBERNETES_VERSION, MIN_MINOR};
    match output {
        Output::Json => say(&format!(
            "{:#}\n",
            serde_json::json!({
                "kubeup": env!("CARGO_PKG_VERSION"),
                "defaultKubernetesVersion": DEFAULT_KUBERNETES_VERSION,
                "supportedKubernetesMinors": format!("v1.{MIN_MINOR}–v1.{}", newest_minor()),
            })
        )),
        Output::Text => say(&format!(
            "kubeup {} (Kubernetes v1.{MIN_MINOR}.0 to v1.{}.x; default {DEFAULT_KUBERNETES_VERSION})\n",
            env!("CARGO_PKG_VERSION"),
            newest_minor()
        )),
    }
}

/// Run a command future on a single-threaded runtime (host commands fork their own
/// single-threaded children; nothing here needs more threads).
fn block_on<F: std::future::Future<Output = Result<(), CommandError>>>(f: F) -> Result<(), CommandError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::Refused(format!("cannot start the async runtime: {e}")))?
        .block_on(f)
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
