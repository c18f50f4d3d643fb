//! The local toolkit: what `cargo xtask` drives to emulate the cloud
//! around the functions. The local cloud (`model`, `runtime`, `functions`,
//! `gateway`, `http_api`, `cors`, `bus`, `control`, `local`), `invoke`, sample events, rule
//! tests, `doctor` and `deploy`.
//!
//! Invariant: the template in `infra/` is the one source of rules and
//! routes; nothing here keeps a copy of them.

pub mod auth;
pub mod bus;
pub mod control;
pub mod cors;
pub mod deploy;
pub mod destroy;
pub mod discover;
pub mod dlq;
pub mod doctor;
pub mod duration;
pub mod env_vars;
pub mod events;
pub mod functions;
pub mod gateway;
pub mod http_api;
pub mod infra_checks;
pub mod invoke;
pub mod listen;
pub mod local;
pub mod logs;
pub mod model;
pub mod remote;
pub mod resources;
pub mod rule_test;
pub mod runtime;
pub mod stage;
pub mod stage_token;
pub mod template;
pub mod watch;
