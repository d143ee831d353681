//! The `mxsend` command (issue 8).

fn main() {
    eprintln!("mxsend: the command line is not built yet (issue 8)");
    std::process::exit(69);
}
