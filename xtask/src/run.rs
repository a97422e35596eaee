//! Running commands with their failure named.

use std::process::Command;

pub use tessera_deployer::process::{output, run};

pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(crate::root());
    c
}
