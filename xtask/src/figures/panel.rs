//! The technique-vs-baseline panel every setup draws: its conditions, its
//! repeats run on the time grid, and its AUC table.

use std::fmt::Write as _;

use anyhow::Context;
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

/// One setup's technique-vs-baseline panel of Fig. 5: what its searches are
/// called, where its curves go and what they are drawn against.
pub(super) struct Panel<'a> {
    /// The setup's name, in a failed search's error and the summary's figure
    /// (`fig5 {setup}`).
    pub(super) setup: &'a str,
    /// The progress bar's label.
    pub(super) bar: &'a str,
    /// The files' stem: the curves' `{stem}_validation.png` and their CSV.
    pub(super) stem: &'a str,
    /// The curves' title.
    pub(super) title: &'a str,
    /// The time axis's label, metric and CSV column.
    pub(super) x: &'a str,
    /// What the curves' y axis shows.
    pub(super) metric: &'a str,
    /// The time column of the curves' CSV.
    pub(super) column: &'a str,
    /// What the summary calls the compared AUC (`AUC of best …`).
    pub(super) compared: &'a str,
    /// The budget of one search, in the setup's cost unit.
    pub(super) budget: f64,
    /// Searches per condition.
    pub(super) repeats: usize,
}

/// A panel's searches, condition by condition (the baseline first), repeat by
/// repeat: their curves, and what else the setup kept of each.
pub(super) struct PanelRuns<T> {
    /// The conditions' labels.
    pub(super) labels: Vec<String>,
    /// Each search's curves on the panel's grid.
    pub(super) records: Vec<Vec<Run>>,
    /// What the setup kept of each search beside its record.
    pub(super) kept: Vec<Vec<T>>,
}

impl Panel<'_> {
    /// Runs every condition's repeats (`search(techniques, seed)`, repeat `r` at
    /// seed `--seed + r`, repeats in parallel) and draws their curves; a failed
    /// search's error names the setup, the condition and the repeat.
    pub(super) fn run<T: Send>(
        &self,
        context: &mut Experiment<'_>,
        conditions: &[(&str, Techniques)],
        search: impl Fn(Techniques, u64) -> anyhow::Result<(SearchRecord, T)> + Sync,
    ) -> anyhow::Result<PanelRuns<T>> {
        let grid = time_grid(self.budget);
        let bar = context.bar(self.bar, conditions.len() * self.repeats);
        let mut records = Vec::with_capacity(conditions.len());
        let mut kept = Vec::with_capacity(conditions.len());
        for (label, techniques) in conditions {
            let runs = crate::per_seed(self.repeats, context.options.seed, |r, seed| {
                let (record, extra) = search(*techniques, seed)
                    .with_context(|| format!("{} {label}, repeat {r}", self.setup))?;
                bar.inc(1);
                Ok((Run::new(&record, &grid, self.budget), extra))
            })
            .into_iter()
            .collect::<anyhow::Result<Vec<_>>>()?;
            let (condition_records, condition_kept): (Vec<Run>, Vec<T>) = runs.into_iter().unzip();
            records.push(condition_records);
            kept.push(condition_kept);
        }
        bar.finish_and_clear();
        let labels: Vec<String> = conditions.iter().map(|(l, _)| (*l).to_string()).collect();
        let time = TimeAxis {
            grid: &grid,
            x: self.x,
            metric: self.metric,
            column: self.column,
        };
        context.curves_on(self.stem, self.title, &labels, &records, &time)?;
        Ok(PanelRuns {
            labels,
            records,
            kept,
        })
    }

    /// `{stem}_auc.csv`: per condition and repeat, the AUC, the final validation
    /// and the final test.
    pub(super) fn write_auc_csv<T>(
        &self,
        context: &Experiment<'_>,
        runs: &PanelRuns<T>,
    ) -> anyhow::Result<()> {
        write_file(
            context.out.join(format!("{}_auc.csv", self.stem)),
            auc_csv(&runs.labels, &runs.records)?,
        )
    }

    /// Each condition's AUC against the baseline's in the summary, then
    /// `also(context, condition)` for the setup's further rows of that condition.
    pub(super) fn compare_aucs<T>(
        &self,
        context: &mut Experiment<'_>,
        runs: &PanelRuns<T>,
        mut also: impl FnMut(&mut Experiment<'_>, usize),
    ) {
        let figure = format!("fig5 {}", self.setup);
        let baseline = context.aucs(&runs.records[0]);
        for (i, label) in runs.labels.iter().enumerate().skip(1) {
            let auc = context.aucs(&runs.records[i]);
            context.compare(
                &figure,
                &format!("{label} vs baseline"),
                self.compared,
                &auc,
                &baseline,
            );
            also(context, i);
        }
    }
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
