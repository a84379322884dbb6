//! What a command prints and the code it exits with: results on stdout (text for people, JSON
//! for machines), errors on stderr as one message, and an exit code per class of failure.

use std::io::Write;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// For people.
    Text,
    /// For machines.
    Json,
}

/// Exit codes by class of failure.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// A phase failed (what could be rolled back was).
    pub const FAILED: u8 = 1;
    /// Bad usage or configuration (nothing was changed).
    pub const USAGE: u8 = 2;
    /// Preflight errors (nothing was changed).
    pub const PREFLIGHT: u8 = 3;
}

/// Write to stdout, ignoring a closed pipe (`kubeup … | head`).
pub fn say(text: &str) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}

/// Print an error message once, on stderr.
pub fn error(msg: &str) {
    eprintln!("error: {msg}");
}
