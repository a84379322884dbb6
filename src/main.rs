//! The `kubeup` binary: parse, set up logging, run, exit with the command's code.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = kubeup::cli::Cli::parse();
    // Logs go to stderr so that `-o json` output on stdout stays machine-readable. kube's
    // client logs every failed request; kubeup retries and reports failures itself.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,kube_client=off"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
    ExitCode::from(kubeup::cli::run(cli))
}
