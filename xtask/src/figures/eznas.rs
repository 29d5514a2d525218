//! The EZNAS panel: zero-cost proxies evolved by `ufh_proxies`' genetic program
//! on the large embedded table's cells (EZNAS's settings: population 50, μ 25,
//! λ 50, 15 generations after the first), with and without FEC,
//! then validated on held-out networks of the zoo's three spaces beside EZNAS-A
//! and every zero-cost baseline (`cargo xtask eznas` runs the same experiment
//! and prints it).
//!
//! Files: `eznas_correlations.csv` and `.md` (Kendall τ-b and Spearman ρ of
//! every proxy on every held-out space; 300 networks per space, `--quick`: 60);
//! `eznas_scatter_evolved` and `eznas_scatter_baseline` (score against accuracy
//! per space, for the best evolved proxy and the baseline of highest mean τ, with
//! their CSV); `eznas_gp` (each generation's best fitness with and without FEC,
//! and FEC's hit rate per generation, with its CSV).

use std::fmt::Write as _;

use indicatif::{ProgressBar, ProgressStyle};

use super::plot::{self, Axes, Line, Panel};
use super::{Experiment, write_file};
use crate::eznas::{Kind, Results, Settings, experiment};
use crate::say;

pub(super) fn figure(context: &mut Experiment<'_>) -> anyhow::Result<()> {
    let quick = context.options.quick;
    let settings = Settings {
        held_out: if quick {
            60
        } else {
            Settings::DEFAULT.held_out
        },
        seed: context.options.seed,
        ..Settings::DEFAULT
    };
    let bar = ProgressBar::new(4).with_style(
        ProgressStyle::with_template(
            "eznas {elapsed_precise} [{bar:40}] {pos}/{len} stages (statistics, held out, 2 GP runs)",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let results = experiment(&settings, &mut |_| {
        bar.inc(1);
        Ok(())
    })?;
    bar.finish_and_clear();
    let out = &context.out;
    let (csv, md) = correlation_tables(&results)?;
    write_file(out.join("eznas_correlations.csv"), csv)?;
    write_file(out.join("eznas_correlations.md"), md)?;

    let evolved = results.best_evolved;
    let baseline = best_baseline(&results);
    for (stem, p) in [
        ("eznas_scatter_evolved", Some(evolved)),
        ("eznas_scatter_baseline", baseline),
    ] {
        let Some(p) = p else {
            // No baseline is defined on any space: say so in the file itself.
            write_file(
                out.join(format!("{stem}.csv")),
                "no baseline is defined on every held-out network\n",
            )?;
            continue;
        };
        scatter(context, stem, &results, p)?;
    }
    gp_curves(context, &results)?;

    // Wall times vary from run to run, so they go to the console; the summary,
    // which a run reproduces to the byte, gets the counts.
    let zoo = results.zoo;
    say!(
        "eznas: statistics {:.1} s; GP {}",
        zoo.seconds,
        results
            .gp
            .iter()
            .map(|run| format!("{} {:.1} s", run.label, run.seconds))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let runs: Vec<String> = results
        .gp
        .iter()
        .map(|run| {
            let hit = run
                .record
                .hit_rate()
                .map_or(String::new(), |r| format!(", hit rate {:.1}%", 100.0 * r));
            format!(
                "{}: {} candidates{hit}, best fitness {:.3}",
                run.label,
                run.record.events.len(),
                run.best.1
            )
        })
        .collect();
    context.notes.push(format!(
        "eznas: the GP evolved on {} cells of the large embedded table (statistics of those \
         and {} held-out cells: {:.0} MiB), {} generations after the first, seed {}; {}. Best \
         evolved proxy: {} `{}`. Held-out correlations in eznas_correlations.md.",
        zoo.evolution,
        zoo.held_out,
        zoo.mib,
        settings.generations,
        settings.seed,
        runs.join("; "),
        results.proxies[evolved].0,
        results.gp[evolved].best.0,
    ));
    Ok(())
}

/// The baseline of highest mean Kendall τ over the held-out spaces, among those
/// defined on every space (else among those defined on any).
fn best_baseline(results: &Results) -> Option<usize> {
    let mean_tau = |p: usize, all: bool| -> Option<f64> {
        let taus: Vec<f64> = results
            .spaces
            .iter()
            .filter_map(|s| s.correlations(p).map(|c| c.kendall_tau))
            .collect();
        let enough = if all {
            taus.len() == results.spaces.len()
        } else {
            !taus.is_empty()
        };
        enough.then(|| taus.iter().sum::<f64>() / taus.len() as f64)
    };
    [true, false].into_iter().find_map(|all| {
        results
            .proxies
            .iter()
            .enumerate()
            .filter(|(_, (_, kind))| *kind == Kind::Baseline)
            .filter_map(|(p, _)| mean_tau(p, all).map(|t| (p, t)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(p, _)| p)
    })
}

/// The CSV (one row per proxy and space) and the Markdown table (one row per
/// proxy, τ and ρ per space) of the held-out correlations.
fn correlation_tables(results: &Results) -> anyhow::Result<(String, String)> {
    let mut csv = String::from("proxy,kind,space,networks,kendall_tau,spearman_rho\n");
    let mut md = String::from(
        "# EZNAS: held-out Kendall τ-b / Spearman ρ of score against accuracy\n\n\
         The evolved proxies were evolved on the large embedded table's cells; each \
         space's networks here are held out from the evolution. \"invalid\": the proxy \
         is undefined (NaN, inf, a singular kernel) on some network; \"constant\": it \
         gives every network the same score, so no correlation is defined.\n\n| proxy |",
    );
    for space in &results.spaces {
        write!(md, " {} ({}) τ | ρ |", space.name, space.accuracies.len())?;
    }
    md.push_str("\n|---|");
    md.push_str(&"---|---|".repeat(results.spaces.len()));
    md.push('\n');
    for (p, (name, kind)) in results.proxies.iter().enumerate() {
        let kind_name = match kind {
            Kind::Evolved => "evolved",
            Kind::EznasA => "eznas-a",
            Kind::Baseline => "baseline",
        };
        write!(md, "| {name} |")?;
        for space in &results.spaces {
            let c = space.correlations(p);
            writeln!(
                csv,
                "{name},{kind_name},{},{},{},{}",
                space.name,
                space.accuracies.len(),
                c.map_or(String::new(), |c| c.kendall_tau.to_string()),
                c.map_or(String::new(), |c| c.spearman_rho.to_string()),
            )?;
            match (c, space.scores[p].is_some()) {
                (Some(c), _) => write!(md, " {:.3} | {:.3} |", c.kendall_tau, c.spearman_rho)?,
                (None, true) => md.push_str(" constant | constant |"),
                (None, false) => md.push_str(" invalid | invalid |"),
            }
        }
        md.push('\n');
    }
    Ok((csv, md))
}

/// Score against accuracy of proxy `p`, one panel per held-out space.
fn scatter(
    context: &Experiment<'_>,
    stem: &str,
    results: &Results,
    p: usize,
) -> anyhow::Result<()> {
    let name = &results.proxies[p].0;
    let mut csv = String::from("proxy,space,network,score,accuracy\n");
    let mut panels = Vec::new();
    for space in &results.spaces {
        let points: Vec<(f64, f64)> = space.scores[p]
            .as_deref()
            .map(|scores| {
                scores
                    .iter()
                    .copied()
                    .zip(space.accuracies.clone())
                    .collect()
            })
            .unwrap_or_default();
        for (i, (score, accuracy)) in points.iter().enumerate() {
            writeln!(csv, "{name},{},{i},{score},{accuracy}", space.name)?;
        }
        let title = match (space.correlations(p), space.scores[p].is_some()) {
            (Some(c), _) => format!(
                "{}: τ {:.3}, ρ {:.3}",
                space.name, c.kendall_tau, c.spearman_rho
            ),
            (None, true) => format!("{}: constant score", space.name),
            (None, false) => format!("{}: invalid", space.name),
        };
        panels.push(Panel { title, points });
    }
    write_file(context.out.join(format!("{stem}.csv")), csv)?;
    plot::scatters(
        &context.out.join(stem),
        &format!("EZNAS held out: {name}"),
        "proxy score at initialisation",
        "trained validation accuracy",
        &panels,
    )
}

/// The GP's best fitness per generation, with and without FEC.
fn gp_curves(context: &Experiment<'_>, results: &Results) -> anyhow::Result<()> {
    let mut csv = String::from("run,generation,candidates,best_fitness,hit_rate\n");
    let mut lines = Vec::new();
    for run in &results.gp {
        let mut points = Vec::new();
        for (g, (candidates, best, rate)) in run.generations.iter().enumerate() {
            writeln!(
                csv,
                "{},{g},{candidates},{best},{}",
                run.label,
                rate.map_or(String::new(), |r| r.to_string())
            )?;
            points.push((g as f64, *best, 0.0));
        }
        let name = match run.record.hit_rate() {
            Some(r) => format!("{} (hit rate {:.1}%)", run.label, 100.0 * r),
            None => run.label.to_string(),
        };
        lines.push(Line { name, points });
    }
    write_file(context.out.join("eznas_gp.csv"), csv)?;
    plot::lines(
        &context.out.join("eznas_gp"),
        &Axes {
            title: "EZNAS GP: best fitness per generation",
            x: "generation",
            y: "best fitness (min-over-rounds Kendall τ)",
        },
        &lines,
        false,
    )
}
