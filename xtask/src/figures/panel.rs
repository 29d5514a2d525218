//! The technique-vs-baseline panel every setup draws: its conditions, its
//! repeats run on the time grid, and its AUC table.

use std::fmt::Write as _;

use anyhow::Context;
use indicatif::ProgressBar;
use ufh_search::{SearchRecord, Techniques};

use super::*;

/// The techniques of Fig. 5's panels, each against the baseline first.
pub(super) fn fig5_conditions() -> [(&'static str, Techniques); 4] {
    [
        ("baseline", Techniques::NONE),
        ("FEC", Techniques::FEC),
        ("FCM", fcm()),
        ("tabulist", tabulist()),
    ]
}

/// Every condition's `repeats` searches (`search(techniques, seed)`, repeat `r`
/// at seed `base_seed + r`, repeats in parallel) as runs on `grid` over `budget`;
/// a failed search's error names `setup`, the condition and the repeat.
pub(super) fn run_conditions(
    setup: &str,
    conditions: &[(&str, Techniques)],
    repeats: usize,
    base_seed: u64,
    (grid, budget): (&[f64], f64),
    bar: &ProgressBar,
    search: impl Fn(Techniques, u64) -> anyhow::Result<SearchRecord> + Sync,
) -> anyhow::Result<Vec<Vec<Run>>> {
    conditions
        .iter()
        .map(|(label, techniques)| {
            crate::per_seed(repeats, base_seed, |r, seed| {
                let record = search(*techniques, seed)
                    .with_context(|| format!("{setup} {label}, repeat {r}"))?;
                bar.inc(1);
                Ok(Run::new(&record, grid, budget))
            })
            .into_iter()
            .collect()
        })
        .collect()
}

/// [`GRID`] evenly spaced times up to `budget`.
pub(super) fn time_grid(budget: f64) -> Vec<f64> {
    (1..=GRID)
        .map(|i| budget * i as f64 / GRID as f64)
        .collect()
}

/// Per condition and repeat: AUC, final validation and final test.
pub(super) fn auc_csv(labels: &[String], records: &[Vec<Run>]) -> anyhow::Result<String> {
    let mut csv = String::from("condition,repeat,auc_validation,final_validation,final_test\n");
    for (label, runs) in labels.iter().zip(records) {
        for (r, run) in runs.iter().enumerate() {
            writeln!(
                csv,
                "{label},{r},{},{},{}",
                run.auc, run.final_validation, run.final_test
            )?;
        }
    }
    Ok(csv)
}
