//! `cargo xtask golden`: ufh-core's golden hash vectors.

use anyhow::{Context, bail};

use crate::say;
use crate::workspace_root;

#[allow(unreachable_pub, dead_code)] // reason: the module is shared with ufh-core's golden test
#[path = "../../ufh-core/tests/support/golden_table.rs"]
mod golden_table;

/// `cargo xtask golden`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Rewrite the committed hashes after a deliberate change to the hash.
    #[arg(long)]
    bless: bool,
}

pub(crate) fn golden(args: Args) -> anyhow::Result<()> {
    let bless = args.bless;
    let path = workspace_root().join("ufh-core/tests/data/golden.tsv");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let rows = golden_table::parse_table(&text)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("parsing {}", path.display()))?;
    let mut changed = 0;
    let mut out = String::new();
    let mut row_iter = rows.iter();
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let row = row_iter.next().expect("one parsed row per data line");
        let (h64, h128) = golden_table::compute(row);
        if h64 != row.hash64 || h128 != row.hash128 {
            changed += 1;
            say!(
                "{}: {} {} -> {} {}",
                row.name,
                row.hash64,
                row.hash128,
                h64,
                h128
            );
        }
        out.push_str(
            &[
                &row.name,
                &row.kind,
                &row.mantissa,
                &row.values,
                &h64,
                &h128,
            ]
            .map(String::as_str)
            .join("\t"),
        );
        out.push('\n');
    }
    match (changed, bless) {
        (0, _) => say!("all {} golden rows match", rows.len()),
        (_, true) => {
            std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?;
            say!(
                "rewrote {changed} of {} rows in {}",
                rows.len(),
                path.display()
            );
        }
        (_, false) => {
            bail!("{changed} golden rows differ; rerun with --bless if the change is deliberate")
        }
    }
    Ok(())
}
