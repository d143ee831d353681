//! Send one message through a relay with the smol adapter.
//!
//! ```text
//! cargo run -p mxsend --features smol --example smol_send -- HOST PORT FROM TO [TLS mode]
//! ```

mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (relay, message) = common::from_args("smol_send")?;
    let report = smol::block_on(mxsend::smol::send(&relay, &message))?;
    common::print(&report)
}
