//! The kubelet as kubeup runs it: its configuration file, its flags, the container that runs
//! it, and the systemd unit for hosts where systemd supervises that container.
//!
//! Pure.

pub mod config;
pub mod container;
pub mod unit;
