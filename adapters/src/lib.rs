//! # mxsend: send email the way mail servers do
//!
//! SKELETON: the runtime adapters over [`mxsend_core`] (issues 4, 5, 6).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use mxsend_core as core;

pub mod dns;
pub mod delivery;
pub mod tls;
pub mod transcript;
