//! Regenerates the development PKI until `renkei certs generate` is wired up:
//!
//! ```sh
//! cargo run -p renkei-pki --example generate_dev_pki -- [OUT_DIR]
//! ```
//!
//! OUT_DIR defaults to the repository's `certs-dev/`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let out = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../certs-dev"),
        PathBuf::from,
    );
    let result = renkei_pki::DevPkiSpec::default_dev()
        .and_then(|spec| renkei_pki::generate_dev_pki(&out, &spec));
    match result {
        Ok(pki) => {
            print!("{pki}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
