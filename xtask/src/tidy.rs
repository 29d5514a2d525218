//! `cargo xtask tidy`: the shape rules of the workspace, checked by reading its
//! sources (as rust-analyzer's tidy does), so that a move that breaks one fails a
//! test instead of waiting for a reviewer.
//!
//! * **Setups stay apart.** In `ufh-spaces`, no setup module (`nasbench101`,
//!   `automl_zero`, `autorl`, `mnas`, `zoo`) names another in code, and no shared
//!   module (`nn`, `digits`, `gaussian`, `seeds`) names a setup. Comments and doc
//!   lines are not read: a doc may point a reader to a sibling.
//! * **One layout per setup.** Every setup module that searches has `mod.rs`,
//!   `space.rs`, `evaluate.rs` and `hash.rs`.
//! * **No file over [`MAX_LINES`] lines.** None needs an exception today; a data
//!   table that ever does should move out of `.rs` into `data/`.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::workspace_root;

/// The setups of `ufh-spaces`, as module names.
const SETUPS: [&str; 5] = ["nasbench101", "automl_zero", "autorl", "mnas", "zoo"];

/// The modules of `ufh-spaces` every setup may use and that may use no setup.
const SHARED: [&str; 4] = ["nn", "digits", "gaussian", "seeds"];

/// The setups that search: each holds the same rooms. The zoo is a setup's data
/// (EZNAS's design spaces and their tables; EZNAS's evaluator and hasher live in
/// `ufh-proxies`), so it keeps apart but has no rooms of its own.
const SEARCH_SETUPS: [&str; 4] = ["nasbench101", "automl_zero", "autorl", "mnas"];

/// The files each setup module holds.
const LAYOUT: [&str; 4] = ["mod.rs", "space.rs", "evaluate.rs", "hash.rs"];

/// The longest source file the rule allows.
const MAX_LINES: usize = 900;

/// Arguments of `cargo xtask tidy`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    /// The file, relative to the workspace root.
    pub file: PathBuf,
    /// Its line (1-based), where the rule is about a line.
    pub line: Option<usize>,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.what),
            None => write!(f, "{}: {}", self.file.display(), self.what),
        }
    }
}

/// Runs every rule on the workspace and fails, listing each violation, if one
/// breaks.
pub(crate) fn run(_: Args) -> Result<()> {
    let violations = check(&workspace_root())?;
    if violations.is_empty() {
        crate::say!("tidy: setups apart, one layout, no file over {MAX_LINES} lines");
        return Ok(());
    }
    for v in &violations {
        eprintln!("{v}");
    }
    bail!("tidy: {} violation(s)", violations.len())
}

/// Every violation under `root`.
pub(crate) fn check(root: &Path) -> Result<Vec<Violation>> {
    let mut violations = Vec::new();
    let spaces = root.join("ufh-spaces/src");
    for file in rust_files(&spaces)? {
        let relative = file.strip_prefix(&spaces).expect("under src");
        let Some(owner) = owner_module(relative) else {
            continue;
        };
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        for (line, forbidden) in crossings(&owner, &text) {
            violations.push(Violation {
                file: file.strip_prefix(root).unwrap_or(&file).to_path_buf(),
                line: Some(line),
                what: format!("`{owner}` names `crate::{forbidden}`"),
            });
        }
    }
    for setup in SEARCH_SETUPS {
        for name in LAYOUT {
            let path = spaces.join(setup).join(name);
            if !path.is_file() {
                violations.push(Violation {
                    file: path.strip_prefix(root).unwrap_or(&path).to_path_buf(),
                    line: None,
                    what: format!("setup `{setup}` has no {name}"),
                });
            }
        }
    }
    for crate_dir in [
        "ufh-core",
        "ufh-search",
        "ufh-spaces",
        "ufh-proxies",
        "ufh-bench",
        "xtask",
    ] {
        for file in rust_files(&root.join(crate_dir))? {
            let relative = file.strip_prefix(root).unwrap_or(&file).to_path_buf();
            let lines = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?
                .lines()
                .count();
            if lines > MAX_LINES {
                violations.push(Violation {
                    file: relative,
                    line: None,
                    what: format!("{lines} lines, over the {MAX_LINES} allowed"),
                });
            }
        }
    }
    Ok(violations)
}

/// The top-level module of `ufh-spaces` a file (relative to `src/`) belongs to,
/// if it is a setup or a shared module.
fn owner_module(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (SETUPS.contains(&name) || SHARED.contains(&name)).then(|| name.to_string())
}

/// The lines (1-based) of `text` whose code names a setup other than `owner`
/// through `crate::`, directly (`crate::mnas::X`) or in a group, over as many
/// lines as it takes (`use crate::{digits, mnas::X}`), with the setup named. A
/// shared `owner` may name none.
fn crossings(owner: &str, text: &str) -> Vec<(usize, String)> {
    // Comments blanked line by line, so that offsets still give lines.
    let code: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find("crate::") {
        let start = from + at + "crate::".len();
        for (offset, name) in first_segments(&code, start) {
            if name != owner && SETUPS.contains(&name) {
                let line = code[..offset].matches('\n').count() + 1;
                found.push((line, name.to_string()));
            }
        }
        from = start;
    }
    found.dedup();
    found
}

/// The first segment of the path at `start` with its offset: one identifier, or
/// the first identifier of each item of a `{…}` group.
fn first_segments(code: &str, start: usize) -> Vec<(usize, &str)> {
    let identifier = |at: usize| {
        let rest = &code[at..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        (at, &rest[..end])
    };
    if !code[start..].starts_with('{') {
        return vec![identifier(start)];
    }
    let mut segments = Vec::new();
    let mut depth = 0usize;
    let mut item_starts = true;
    for (i, c) in code[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => item_starts = true,
            c if depth == 1 && item_starts && (c.is_alphabetic() || c == '_') => {
                segments.push(identifier(start + i));
                item_starts = false;
            }
            c if depth == 1 && !c.is_whitespace() => item_starts = false,
            _ => {}
        }
    }
    segments
}

/// Every `.rs` file under `dir`, `target` folders left out, sorted.
fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in
            std::fs::read_dir(&folder).with_context(|| format!("reading {}", folder.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_keeps_its_shape() {
        let violations = check(&workspace_root()).unwrap();
        let listed: Vec<String> = violations.iter().map(ToString::to_string).collect();
        assert!(listed.is_empty(), "tidy:\n{}", listed.join("\n"));
    }

    #[test]
    fn a_crossing_is_found_and_a_comment_is_not() {
        let text = "use crate::nn::layers::Tensor;\n\
                    use crate::nasbench101::Cell; // one\n\
                    // see crate::autorl for the other\n\
                    let x = crate::autorl::CartPole::new();\n\
                    use crate::zoo_extra::Thing;\n";
        assert_eq!(
            crossings("zoo", text),
            vec![(2, "nasbench101".to_string()), (4, "autorl".to_string())]
        );
        assert!(crossings("nasbench101", "use crate::nasbench101::Cell;").is_empty());
        let grouped = "use crate::{\n    digits,\n    mnas::{Architecture, Choice},\n};\n\
                       use crate::{autorl::CartPole, nn::layers::Tensor};\n";
        assert_eq!(
            crossings("zoo", grouped),
            vec![(3, "mnas".to_string()), (5, "autorl".to_string())]
        );
        assert!(crossings("mnas", "use crate::{digits, mnas::Op};").is_empty());
        assert_eq!(owner_module(Path::new("nn/net.rs")).as_deref(), Some("nn"));
        assert_eq!(
            owner_module(Path::new("mnas/space.rs")).as_deref(),
            Some("mnas")
        );
        assert_eq!(owner_module(Path::new("lib.rs")), None);
    }

    #[test]
    fn a_setup_missing_a_room_and_an_oversized_file_are_reported() {
        let root = std::env::temp_dir().join(format!("ufh-tidy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for setup in SETUPS {
            let dir = root.join("ufh-spaces/src").join(setup);
            std::fs::create_dir_all(&dir).unwrap();
            for name in LAYOUT {
                if !(setup == "mnas" && name == "hash.rs") {
                    std::fs::write(dir.join(name), "").unwrap();
                }
            }
        }
        std::fs::write(
            root.join("ufh-spaces/src/nn.rs"),
            "use crate::mnas::Architecture;\n",
        )
        .unwrap();
        std::fs::create_dir_all(root.join("ufh-core/src")).unwrap();
        std::fs::write(
            root.join("ufh-core/src/big.rs"),
            "fn f() {}\n".repeat(MAX_LINES + 1),
        )
        .unwrap();
        let found: Vec<String> = check(&root)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            found,
            vec![
                "ufh-spaces/src/nn.rs:1: `nn` names `crate::mnas`".to_string(),
                "ufh-spaces/src/mnas/hash.rs: setup `mnas` has no hash.rs".to_string(),
                format!(
                    "ufh-core/src/big.rs: {} lines, over the 900 allowed",
                    MAX_LINES + 1
                ),
            ]
        );
    }
}
