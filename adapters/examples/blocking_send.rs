//! Send one message through a relay with the blocking adapter (std::net, one thread).
//!
//! ```text
//! cargo run -p mxsend --example blocking_send -- HOST PORT FROM TO [TLS mode]
//! ```

mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (relay, message) = common::from_args("blocking_send")?;
    let report = mxsend::blocking::send(&relay, &message)?;
    common::print(&report)
}
