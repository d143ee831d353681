//! Send one message through a relay with the async-std adapter (legacy: async-std is
//! discontinued in favour of smol).
//!
//! ```text
//! cargo run -p mxsend --features async-std --example async_std_send -- HOST PORT FROM TO [TLS mode]
//! ```

mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (relay, message) = common::from_args("async_std_send")?;
    let report = async_std::task::block_on(mxsend::async_std::send(&relay, &message))?;
    common::print(&report)
}
