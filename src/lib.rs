//! kubeup: a Kubernetes cluster installer that ships as one container image.
//!
//! Map (see ARCHITECTURE.md): `cli` parses flags into a command's request; `commands` resolve
//! the configuration (`config`), render the run (`workflow` → `phases` → `plan`) and hand the
//! plans to `apply`'s executor, or print them for `--dry-run`. Pure modules render; edges
//! (`host`, `runtime`, `cluster`, `join`, `network`) touch the machine, reached through `apply`.

#![deny(missing_docs)]

pub mod apply;
pub mod certificate_key;
pub mod certs;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod digest;
pub mod facts;
pub mod host;
pub mod host_files;
pub mod images;
pub mod join;
pub mod join_command;
pub mod jws;
pub mod kubeconfig;
pub mod kubelet;
pub mod manifests;
pub mod mountinfo;
pub mod network;
pub mod objects;
pub mod output;
pub mod paths;
pub mod phases;
pub mod pki;
pub mod plan;
pub mod proxy;
pub mod record;
pub mod reset;
pub mod runtime;
pub mod test_hooks;
pub mod token;
pub mod version;
pub mod workflow;
pub mod yaml;
