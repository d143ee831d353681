//! Harness for the end-to-end tests: starts real peers on loopback (see `peers/`).
pub mod dnsmasq;
pub mod scenarios;
pub mod sink;
