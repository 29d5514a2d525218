//! `cargo xtask figures`: the paper's tabular-NAS experiments (Sections 5–6 and
//! Supplementary S3), on the embedded table or on NAS-Bench-101, and its
//! AutoML-Zero panel of Fig. 5 / S3 (`automl_zero.rs`, with its own budget in
//! training steps and its own repeat count).
//!
//! Every figure is written as PNG and SVG with a CSV of every plotted number; a
//! summary (Markdown and JSON) gives, per comparison, the AUC ratio and the
//! two-sided Mann–Whitney U p-value over repeats. Repeats run in parallel; each
//! repeat `r` of every condition uses the seed `--seed + r`, so conditions are
//! compared on the same seeds and a run is reproducible to the byte.
//!
//! Repeats: the paper's 500 per condition (1,000 for PPO) by default; the grid of
//! Fig. 7 and the sweep of Fig. 10 use at most 100 per point; `--quick` uses 8
//! (and smaller grids), `--repeats N` sets the base count.
//!
//! Budget scaling: the paper's NAS-Bench-101 budget of 5e6 simulated seconds and
//! its 10 s hashing cost are kept with `--nasbench`. On the embedded table both are
//! multiplied by `r` = (mean full-budget training time of the embedded table) /
//! (2,300 s, about NAS-Bench-101's mean 108-epoch training time), so a search buys
//! the same number of trainings (about 2,200) and hashing costs the same fraction of
//! a training as in the paper.

mod automl_zero;
mod autorl;
mod experiment;
mod eznas;
mod mnas;
mod nas;
mod panel;
mod plot;
mod stats;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::say;
use crate::workspace_root;

use crate::common::nas::{PAPER_EVOLUTION, scaled_budget};
use experiment::*;
use nas::*;
use panel::*;

/// Points of the time grid on which curves are averaged.
const GRID: usize = 200;

/// Every figure, in the order they run.
const FIGURES: [&str; 13] = [
    "fig5",
    "fig6",
    "fig7",
    "fig8",
    "fig9",
    "fig10",
    "fig11",
    "fig12",
    "fig13",
    "automl-zero",
    "autorl",
    "eznas",
    "mnas",
];

/// `cargo xtask figures`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A smoke run: 8 repeats, smaller grids, short AutoML-Zero searches.
    #[arg(long)]
    quick: bool,
    /// Search NAS-Bench-101 from its data file instead of an embedded table.
    #[arg(long, value_name = "PATH", conflicts_with = "table")]
    nasbench: Option<PathBuf>,
    /// Which embedded table: `large` (every cell of at most 6 vertices, in
    /// NAS-Bench-101's regime) or `small` (the 2,532 cells of at most 5).
    #[arg(long, default_value = "large", value_parser = ["large", "small"])]
    table: String,
    /// Directory the figures are written to [default: figures/ in the workspace].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Only these figures.
    #[arg(long, value_name = "NAME", num_args = 1.., value_parser = clap::builder::PossibleValuesParser::new(FIGURES))]
    only: Vec<String>,
    /// Repeats per condition [default: 500, or 8 with --quick].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    repeats: Option<u64>,
    /// Base seed: repeat r of every condition uses seed + r.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Threads [default: all cores].
    #[arg(long)]
    jobs: Option<NonZeroUsize>,
    /// Go on from the journal of an interrupted run into the same --out: figures
    /// and conditions already done are read back, not run again.
    #[arg(long)]
    resume: bool,
}

/// The checked options of a run.
struct Options {
    resume: bool,
    quick: bool,
    nasbench: Option<PathBuf>,
    table: String,
    out: PathBuf,
    only: Vec<String>,
    repeats: Option<usize>,
    seed: u64,
    jobs: usize,
}

impl Options {
    fn from_args(args: Args) -> anyhow::Result<Self> {
        Ok(Self {
            resume: args.resume,
            quick: args.quick,
            nasbench: args.nasbench,
            table: args.table,
            out: args.out.unwrap_or_else(|| workspace_root().join("figures")),
            only: args.only,
            repeats: args
                .repeats
                .map(usize::try_from)
                .transpose()
                .context("--repeats")?,
            seed: args.seed,
            jobs: crate::threads(args.jobs),
        })
    }
}

/// Writes one output file; the error names it (a bare "Is a directory" says
/// nothing of which file).
fn write_file(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> anyhow::Result<()> {
    let path = path.as_ref();
    ufh_search::write_atomically(path, contents.as_ref())
        .with_context(|| format!("writing {}", path.display()))
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let options = Options::from_args(args)?;
    let start = Instant::now();
    if options.out.exists() && !options.out.is_dir() {
        bail!(
            "--out {} is not a directory; give a directory for the figures",
            options.out.display()
        );
    }
    let bench = Bench::load(&options)?;
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("creating {}", options.out.display()))?;
    let repeats = options
        .repeats
        .unwrap_or(if options.quick { 8 } else { 500 });
    rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs)
        .build_global()
        .ok();
    say!(
        "{}: {} models; budget {:.1} simulated s, hashing {:.4} s; {repeats} repeats; output in {}",
        bench.name,
        bench.table.len(),
        bench.budget_s,
        bench.hash_cost_s,
        options.out.display()
    );
    let journal = Journal::open(&options, &bench.name)?;
    let mut context = Experiment {
        journal,
        bench: &bench,
        options: &options,
        repeats,
        out: options.out.clone(),
        summary: Vec::new(),
        notes: Vec::new(),
        memo: HashMap::new(),
    };
    for figure in FIGURES {
        if !options.only.is_empty() && !options.only.iter().any(|o| o == figure) {
            continue;
        }
        let figure_start = Instant::now();
        if let Some(done) = context.journal.figure(figure)? {
            context.summary.extend(done.summary);
            context.notes.extend(done.notes);
            say!("{figure} read back from the journal (--resume)");
            continue;
        }
        let (summary_before, notes_before) = (context.summary.len(), context.notes.len());
        match figure {
            "fig5" => fig5(&mut context)?,
            "fig6" => fig6(&mut context)?,
            "fig7" => fig7(&mut context)?,
            "fig8" => fig8(&mut context)?,
            "fig9" => fig9(&mut context)?,
            "fig10" => fig10(&mut context)?,
            "fig11" => fig11(&mut context)?,
            "fig12" => fig12(&mut context)?,
            "fig13" => fig13(&mut context)?,
            "automl-zero" => automl_zero::figure(&mut context)?,
            "autorl" => autorl::figure(&mut context)?,
            "eznas" => eznas::figure(&mut context)?,
            "mnas" => mnas::figure(&mut context)?,
            _ => unreachable!("FIGURES lists only these"),
        }
        context.journal.write(
            &context.journal.path("figure", figure),
            &FigureEntry {
                stamp: context.journal.stamp.clone(),
                summary: context.summary[summary_before..].to_vec(),
                notes: context.notes[notes_before..].to_vec(),
            },
        )?;
        say!(
            "{figure} done in {:.1} s",
            figure_start.elapsed().as_secs_f64()
        );
    }
    write_summary(&context)?;
    if options.only.is_empty() {
        for file in expected_files(&options.out) {
            let size = std::fs::metadata(&file).map_or(0, |m| m.len());
            if size == 0 {
                bail!("{} is missing or empty", file.display());
            }
        }
        say!(
            "checked: all {} expected files exist and are non-empty",
            expected_files(&options.out).len()
        );
    }
    say!("all done in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

fn write_summary(context: &Experiment<'_>) -> anyhow::Result<()> {
    let mut md = format!(
        "# ufh figures summary\n\nBenchmark: {}. Budget {:.1} simulated s, hashing cost {:.4} s, {} repeats, seed {}.\n\n\
         | figure | comparison | metric | treatment | baseline | ratio | Mann–Whitney U | p (two-sided) |\n|---|---|---|---|---|---|---|---|\n",
        context.bench.name,
        context.bench.budget_s,
        context.bench.hash_cost_s,
        context.repeats,
        context.options.seed
    );
    if !context.notes.is_empty() {
        let at = md
            .find("| figure |")
            .expect("the table header is written above");
        let notes: String = context.notes.iter().map(|n| format!("{n}\n\n")).collect();
        md.insert_str(at, &notes);
    }
    for c in &context.summary {
        writeln!(
            md,
            "| {} | {} | {} | {:.5} | {:.5} | {:.4} | {:.1} | {:.3e} |",
            c.figure,
            c.comparison,
            c.metric,
            c.treatment_mean,
            c.baseline_mean,
            c.ratio,
            c.mann_whitney_u,
            c.p_value
        )?;
    }
    write_file(context.out.join("summary.md"), md)?;
    write_file(
        context.out.join("summary.json"),
        serde_json::to_string_pretty(&context.summary)?,
    )?;
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every file a full run of `figures` writes.
fn expected_files(out: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for stem in [
        "fig5_validation",
        "fig5_test",
        "fig6",
        "fig7",
        "fig8_validation",
        "fig8_test",
        "fig9_validation",
        "fig9_test",
        "fig10_quality",
        "fig10_collisions",
        "fig11",
        "fig12",
        "fig13",
        "fig5_automl_zero_validation",
        "fig5_automl_zero_test",
        "fig5_automl_zero_held_out",
        "fig5_autorl_validation",
        "fig5_autorl_test",
        "fig11_autorl",
        "eznas_scatter_evolved",
        "eznas_scatter_baseline",
        "eznas_gp",
        "fig5_mnas_validation",
        "fig5_mnas_test",
        "fig6_mnas",
    ] {
        files.push(out.join(format!("{stem}.png")));
        files.push(out.join(format!("{stem}.svg")));
    }
    for csv in [
        "fig5",
        "fig5_auc",
        "fig6",
        "fig7",
        "fig8",
        "fig9",
        "fig10",
        "fig11",
        "fig12",
        "fig13",
        "fig5_automl_zero",
        "fig5_automl_zero_auc",
        "fig5_autorl",
        "fig5_autorl_auc",
        "fig11_autorl",
        "eznas_correlations",
        "eznas_scatter_evolved",
        "eznas_scatter_baseline",
        "eznas_gp",
        "fig5_mnas",
        "fig5_mnas_auc",
        "fig6_mnas",
        "mnas_hash_audit",
    ] {
        files.push(out.join(format!("{csv}.csv")));
    }
    files.extend(
        [
            "fig13_pairs.txt",
            "fig5_automl_zero_programs.txt",
            "eznas_correlations.md",
            "summary.md",
            "summary.json",
        ]
        .map(|f| out.join(f)),
    );
    files
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    /// Every I/O error names its path: a directory where a CSV should go, and an
    /// `--out` that is a regular file.
    #[test]
    fn write_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("ufh-figures-out-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("fig6.csv")).unwrap();
        let err = write_file(dir.join("fig6.csv"), "x").unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("fig6.csv") && text.contains("writing"),
            "{text}"
        );

        let file = dir.join("a-file");
        std::fs::write(&file, "").unwrap();
        let cli =
            Cli::try_parse_from(["figures", "--out", file.to_str().unwrap(), "--quick"]).unwrap();
        let err = run(cli.args).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("a-file") && text.contains("not a directory"),
            "{text}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
