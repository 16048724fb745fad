//! The double driven by the real `kube` client, as cairn drives a cluster.

mod auth;
mod controllers;
mod csi;
mod discovery;
mod exec;
mod list;
mod util;
mod write;
