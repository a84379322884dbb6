//! EDGE: how a node joins a cluster it does not trust yet: secure discovery ([`discovery`],
//! the trust decision itself in [`cluster_info`]), the pinned connection every later request
//! uses ([`api`]), and what is read through it before anything is written ([`reads`]).
//! `commands::join` drives them.

pub mod api;
pub mod cluster_info;
pub mod discovery;
pub mod reads;
