//! `cargo xtask table-stats [PATH]`: what a tabular benchmark file holds — models,
//! accuracy range, training cost, and how often the paper's functional hash puts two
//! models in one bucket.

use std::path::PathBuf;

use anyhow::Context;
use ufh_core::MantissaBits;
use ufh_spaces::tabular::{ModelTable, TableHasherConfig, TabularBenchmark};

use crate::say;
use crate::workspace_root;

/// `cargo xtask table-stats`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A table file in ufh's binary format [default: the embedded default table].
    path: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let path = args
        .path
        .unwrap_or_else(|| workspace_root().join("ufh-spaces/data/nasbench-digits.ufhtable"));
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let (table, metadata) =
        ModelTable::read_binary(&bytes).with_context(|| format!("reading {}", path.display()))?;
    say!(
        "{}: {} bytes, {} models, budgets {:?}, {} repeats",
        path.display(),
        bytes.len(),
        table.len(),
        table.budgets(),
        table.repeats()
    );
    say!("header: {metadata}");
    let full = table.budgets().len() - 1;
    let mut validation = Vec::new();
    let mut test = Vec::new();
    let mut time_full = 0.0;
    let mut time_all = 0.0;
    for i in 0..table.len() {
        let model = table.model_at(i);
        for budget in 0..table.budgets().len() {
            for run in model.runs(budget) {
                time_all += run.end.training_time;
                if budget == full {
                    time_full += run.end.training_time;
                    validation.push(run.end.validation_accuracy);
                    test.push(run.end.test_accuracy);
                }
            }
        }
    }
    for (name, values) in [("validation", &mut validation), ("test", &mut test)] {
        values.sort_by(f64::total_cmp);
        say!(
            "final {name} accuracy at {} epochs over all repeats: min {:.4}, median {:.4}, max {:.4}",
            table.budgets()[full],
            values[0],
            values[values.len() / 2],
            values[values.len() - 1]
        );
    }
    say!(
        "recorded training time: {time_all:.0} s in all ({time_full:.0} s at the full budget; mean {:.2} s per full run)",
        time_full / validation.len() as f64
    );
    for bits in [1, 4, 8, 16, 24, 52] {
        let config = TableHasherConfig {
            mantissa_bits: MantissaBits::f64(bits)?,
            ..TableHasherConfig::paper()
        };
        let hasher = config.build(&table)?;
        let buckets = hasher.group_models();
        let colliding: usize = buckets.iter().map(Vec::len).filter(|&n| n > 1).sum();
        say!(
            "{bits:>2} mantissa bits ({:?}): {} distinct hashes, {:.2} models per hash, {colliding} models ({:.2}%) share a hash",
            hasher.source(),
            buckets.len(),
            table.len() as f64 / buckets.len() as f64,
            100.0 * colliding as f64 / table.len() as f64
        );
    }
    Ok(())
}
