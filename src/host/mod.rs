//! EDGE: the host, reached through its root directory (`--host-root`, `/host` in the container).
//!
//! `root` confines every path to the host root; `fs` writes atomically; `observe` gathers the
//! read-only facts (hostname, addresses, existing files) that rendering takes as input.

pub mod actions;
pub mod cri;
pub mod exec;
pub mod fs;
pub mod lock;
pub mod observe;
pub mod remove;
pub mod root;

pub use root::{HostError, HostRoot};
