//! The MNAS panel of Fig. 5 (baseline against FEC) and its row of Fig. 6 (the
//! best network re-evaluated on test), for the paper's Setup A
//! (`ufh_spaces::mnas`), and the comparison of its two hashes by the
//! counterfactual audit.
//!
//! Searches: regularized evolution (`crate::mnas::EVOLUTION`: population 20,
//! tournament 5) from random architectures, each candidate trained at
//! `TrainSettings::DEFAULT`, fitness MnasNet's reward on validation accuracy and
//! the shipped latency table. Time is the latency model's simulated seconds; the
//! budget is that of 400 trainings of the reference network (`--quick`: 32), in
//! 8 repeats per condition (`--quick`: 2; at most `--repeats`); repeat `r` uses
//! seed `--seed + r`. The hash is the paper's (softmax outputs rounded to four
//! decimals).
//!
//! The audit: one FEC search per hash (the rounded softmax and the softmax
//! truncated to 10 mantissa bits), at the panel's budget (`--quick`: half) and
//! `--seed`, trains
//! every cache hit anyway and counts a collision when its reward differs from
//! the cached one (fitness is a function of the architecture, so any difference
//! is a collision).

use std::fmt::Write as _;

use anyhow::Context;
use ufh_core::MantissaBits;
use ufh_search::{AuditConfig, Budget, CandidateHasher, Mode, Search, SearchRecord, Techniques};
use ufh_spaces::mnas::{
    Architecture, MnasEvaluator, MnasHash, MnasHasher, MnasSpace, TrainSettings,
};

use super::panel::Panel;
use super::plot::{self, Axes};
use super::{Experiment, Run, write_file};
use crate::mnas::EVOLUTION;

/// Mantissa bits of the truncated hash in the audit.
const TRUNCATED_BITS: u32 = 10;

pub(super) fn figure(context: &mut Experiment<'_>) -> anyhow::Result<()> {
    let quick = context.options.quick;
    let trainings = if quick { 32.0 } else { 400.0 };
    let repeats = context.repeats.min(if quick { 2 } else { 8 });
    let evaluator = MnasEvaluator::new(TrainSettings::DEFAULT);
    let budget = trainings * evaluator.cost_s(&Architecture::REFERENCE);
    let hasher = MnasHasher::new(MnasHash::RoundedSoftmax, &evaluator);
    let conditions = [("baseline", Techniques::NONE), ("FEC", Techniques::FEC)];
    let panel = Panel {
        setup: "MNAS",
        bar: "mnas",
        stem: "fig5_mnas",
        title: "MNAS (mobile CNNs on the digits, reward ACC·(LAT/T)^-0.07)",
        x: "simulated seconds (latency model)",
        metric: "reward",
        column: "simulated_s",
        compared: "AUC of best reward",
        budget,
        repeats,
    };
    let runs = panel.run(context, &conditions, |techniques, seed| {
        Ok((search(&evaluator, &hasher, techniques, budget, seed)?, ()))
    })?;
    panel.write_auc_csv(context, &runs)?;
    let fec_hit_rates: Vec<f64> = runs.records[1].iter().map(Run::hit_rate).collect();
    let (hit_mean, _) = super::stats::mean_sem(&fec_hit_rates);
    context.notes.push(format!(
        "fig5/fig6 MNAS rows: regularized evolution (population {}, tournament {}) of the scaled \
         MnasNet space, each candidate trained {} epochs on {} digits, T = {:.2} µs; a budget of \
         {trainings} reference trainings ({budget:.1} simulated s) per search, {repeats} repeats per \
         condition; FEC hit rate {:.1}% (mean over repeats).",
        EVOLUTION.population_size,
        EVOLUTION.tournament_size,
        evaluator.settings.epochs,
        evaluator.settings.train_images,
        evaluator.target_us,
        100.0 * hit_mean
    ));
    panel.compare_aucs(context, &runs, |_, _| {});
    let (labels, records) = (runs.labels, runs.records);
    best_on_test(context, &labels, &records)?;
    // A quick run audits half its budget: the audit trains every hit again.
    let audit_budget = if quick { budget / 2.0 } else { budget };
    audit(context, &evaluator, audit_budget)
}

fn search<H: CandidateHasher<Architecture> + Sync>(
    evaluator: &MnasEvaluator,
    hasher: &H,
    techniques: Techniques,
    budget: f64,
    seed: u64,
) -> anyhow::Result<SearchRecord> {
    let search = Search::new(
        &MnasSpace,
        evaluator,
        Budget::SimulatedSeconds(budget),
        seed,
    )
    .hasher(hasher)
    .techniques(techniques)?
    .keep_events(true);
    Ok(search.run(&mut EVOLUTION.build()?, Mode::Serial)?.record)
}

/// Fig. 6's MNAS row: the test reward of each search's best-by-validation
/// network.
fn best_on_test(
    context: &mut Experiment<'_>,
    labels: &[String],
    records: &[Vec<Run>],
) -> anyhow::Result<()> {
    let mut csv = String::from("condition,repeat,test_reward_of_best\n");
    let mut groups = Vec::new();
    for (label, runs) in labels.iter().zip(records) {
        let values: Vec<f64> = runs.iter().map(|r| r.final_test).collect();
        for (r, v) in values.iter().enumerate() {
            writeln!(csv, "{label},{r},{v}")?;
        }
        groups.push((label.clone(), values));
    }
    write_file(context.out.join("fig6_mnas.csv"), csv)?;
    plot::groups(
        &context.out.join("fig6_mnas"),
        &Axes {
            title: "MNAS: the best network re-evaluated on test",
            x: "technique",
            y: "test reward of best-by-validation",
        },
        &groups,
    )?;
    context.compare(
        "fig6 MNAS",
        "FEC vs baseline",
        "test reward of the best",
        &groups[1].1,
        &groups[0].1,
    );
    Ok(())
}

/// The two hashes under the counterfactual audit.
fn audit(
    context: &mut Experiment<'_>,
    evaluator: &MnasEvaluator,
    budget: f64,
) -> anyhow::Result<()> {
    let hashes = [
        ("rounded softmax (4 decimals)", MnasHash::RoundedSoftmax),
        (
            "truncated softmax (10 mantissa bits)",
            MnasHash::Truncated(MantissaBits::f32(TRUNCATED_BITS)?),
        ),
    ];
    let techniques = Techniques {
        audit: Some(AuditConfig { tolerance: 0.0 }),
        ..Techniques::FEC
    };
    let seed = context.options.seed;
    let records = crate::per_seed(hashes.len(), 0, |i, _| {
        let hasher = MnasHasher::new(hashes[i].1, evaluator);
        search(evaluator, &hasher, techniques, budget, seed)
    });
    let mut csv = String::from("hash,candidates,hits,hit_rate,audited,collisions,collision_rate\n");
    let mut lines = Vec::new();
    for ((name, _), record) in hashes.iter().zip(records) {
        let record = record.with_context(|| format!("MNAS audit, {name}"))?;
        let audit = record.audit.context("the audit ran")?;
        let hit_rate = record.hit_rate().unwrap_or(0.0);
        let collision_rate = audit.collision_rate().unwrap_or(0.0);
        writeln!(
            csv,
            "{name},{},{},{hit_rate},{},{},{collision_rate}",
            record.n_events, audit.audited, audit.audited, audit.collisions
        )?;
        lines.push(format!(
            "{name}: hit rate {:.1}%, {} of {} audited hits collided",
            100.0 * hit_rate,
            audit.collisions,
            audit.audited
        ));
    }
    write_file(context.out.join("mnas_hash_audit.csv"), csv)?;
    context.notes.push(format!(
        "MNAS hashes under the counterfactual audit (one FEC search each, seed {seed}): {}.",
        lines.join("; ")
    ));
    Ok(())
}
