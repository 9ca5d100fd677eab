//! Standard output for the `renkei` binary. std's `print!` panics when the reader of a pipe
//! has gone (`renkei demo | head -2`); here that ends the process quietly with status 0, as
//! the default SIGPIPE disposition would, and any other write error is reported, not a panic.

use std::fmt;
use std::io::{self, Write as _};

/// Writes `args` to standard output; on a closed pipe, exits 0 without a word.
pub fn write(args: fmt::Arguments<'_>) {
    let result = io::stdout().lock().write_fmt(args);
    if let Err(e) = result {
        exit_on_write_error(&e);
    }
}

/// Whether `e` (or what it was caused by) is a closed pipe on standard output.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn exit_on_write_error(e: &io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: writing to standard output: {e}");
    std::process::exit(1);
}
