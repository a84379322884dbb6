//! kubeup: a Kubernetes cluster installer that ships as one container image.
//!
//! Map (see ARCHITECTURE.md): `cli` parses flags into `config::Settings`; `config` resolves
//! and validates them into a `config::Config`; `phases` render kubeadm's init phases into
//! `plan::Plan`s from the config, `host::observe` facts and a `phases::View` of existing files;
//! `workflow` runs the phases and hands the plans to `apply` (or prints them for --dry-run).
//! Pure modules: `config`, `version`, `token`, `pki`, `kubeconfig`, `manifests`, `kubelet`,
//! `plan`, `phases`. Edges: `host`, `apply`.

#![deny(missing_docs)]

pub mod apply;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod host;
pub mod images;
pub mod join;
pub mod jws;
pub mod kubeconfig;
pub mod kubelet;
pub mod manifests;
pub mod network;
pub mod operate;
pub mod paths;
pub mod phases;
pub mod pki;
pub mod plan;
pub mod record;
pub mod reset;
pub mod runtime;
pub mod test_hooks;
pub mod token;
pub mod version;
pub mod workflow;
pub mod yaml;
