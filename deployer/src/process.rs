//! Running the tools a build needs, with their failures named.

use anyhow::{bail, Context, Result};
use std::process::Command;
use std::time::Instant;

/// Runs a command to completion, streaming its output; fails naming the command. Prints how
/// long it took, so a slow CI run's log says where the time went.
pub fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    eprintln!("$ {}", shown.replace('"', ""));
    let started = Instant::now();
    let status = cmd
        .status()
        .with_context(|| format!("could not start {shown}"))?;
    let took = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!("{shown} failed with {status} after {took:.1} s");
    }
    eprintln!(
        "  (done in {took:.1} s: {})",
        cmd.get_program().to_string_lossy()
    );
    Ok(())
}

/// `cargo`, as the running cargo names it when there is one (`cargo xtask`), else from `PATH`.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs a command and returns its stdout, or `None` when it cannot start or fails.
pub fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
