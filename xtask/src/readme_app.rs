//! The README's "Adding a fifth micro-app" app, kept word for word in `examples/readme-app`
//! so the bench can build it and show what a new app costs. A test keeps the two the same.

use std::path::PathBuf;

pub const CRATE: &str = "readme-app";

pub fn dir() -> PathBuf {
    crate::root().join("examples").join(CRATE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::{Context, Result};

    /// The body of the first fenced block of `lang` after `heading_start` in `readme`, with the
    /// list item's three-space indent removed.
    fn block_after(readme: &str, heading_start: &str, lang: &str) -> Option<String> {
        let from = readme.find(heading_start)?;
        let fence = format!("```{lang}\n");
        let start = from + readme[from..].find(&fence)? + fence.len();
        let end = start + readme[start..].find("```")?;
        let body = readme[start..end]
            .lines()
            .map(|l| l.strip_prefix("   ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        Some(body.trim_end().to_string() + "\n")
    }

    /// The README's `mfe.json` and `src/lib.rs` for the example app.
    pub fn from_readme() -> Result<(String, String)> {
        let readme = std::fs::read_to_string(crate::root().join("README.md"))
            .context("reading README.md")?;
        let mfe = block_after(&readme, "2. Edit `micro-apps/orders/mfe.json`", "json")
            .context("README: no mfe.json block in \"Adding a fifth micro-app\"")?;
        let lib = block_after(&readme, "3. Write the view in `src/lib.rs`", "rust")
            .context("README: no Rust block in \"Adding a fifth micro-app\"")?;
        Ok((mfe, lib))
    }

    #[test]
    fn the_example_app_is_the_readme_s_word_for_word() {
        let (mfe, lib) = from_readme().unwrap();
        let read = |f: &str| std::fs::read_to_string(dir().join(f)).unwrap();
        assert_eq!(
            read("src/lib.rs"),
            lib,
            "examples/readme-app/src/lib.rs differs from README"
        );
        assert_eq!(
            read("mfe.json"),
            mfe,
            "examples/readme-app/mfe.json differs from README"
        );
    }

    #[test]
    fn blocks_are_found_after_their_heading_and_unindented() {
        let text = "x\n```rust\nno\n```\n3. Here:\n   ```rust\n   fn a() {}\n\n   ```\n";
        assert_eq!(block_after(text, "3. Here", "rust").unwrap(), "fn a() {}\n");
        assert_eq!(block_after(text, "4. Missing", "rust"), None);
    }
}
