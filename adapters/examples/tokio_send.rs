//! Send one message through a relay with the tokio adapter.
//!
//! ```text
//! cargo run -p mxsend --features tokio --example tokio_send -- HOST PORT FROM TO [TLS mode]
//! ```

mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (relay, message) = common::from_args("tokio_send")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(mxsend::tokio::send(&relay, &message))?;
    common::print(&report)
}
