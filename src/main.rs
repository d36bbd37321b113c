//! The `upgrade-console` binary: parses the command line and hands over to the library.
#![forbid(unsafe_code)]

use clap::Parser;

fn main() {
    let cli = upgrade_console::cli::Cli::parse();
    let code = upgrade_console::commands::run(cli);
    std::process::exit(code as i32);
}
