//! The NAS figures of the paper (Figs. 5–13) on the embedded table or
//! NAS-Bench-101.

use std::fmt::Write as _;

use indicatif::ProgressBar;
use ufh_core::MantissaBits;
use ufh_search::{BananasConfig, EvolutionConfig, LocalSearchConfig, Replacement, Techniques};
use ufh_spaces::nasbench101::TableHasherConfig;

use crate::say;
use plot::{Axes, Line};

use super::*;

/// The four conditions of Figs. 5 and 6: the baseline and each technique alone.
pub(super) fn technique_conditions() -> [Condition; 4] {
    [
        Condition::new("baseline", Techniques::NONE),
        Condition::new("FEC", Techniques::FEC),
        Condition::new("FCM", fcm()),
        Condition::new("tabulist", tabulist()),
    ]
}

/// Fig. 5 and S1–S2: baseline, FEC, FCM and tabulist.
pub(super) fn fig5(context: &mut Experiment<'_>) -> anyhow::Result<()> {
    let conditions = technique_conditions();
    let bar = context.bar("fig5", conditions.len() * context.repeats);
    let records = context.run_all(&conditions, &bar)?;
    bar.finish_and_clear();
    let labels: Vec<String> = conditions.iter().map(|c| c.label.clone()).collect();
    context.curves("fig5", "Regularized evolution", &labels, &records)?;
    let baseline = context.aucs(&records[0]);
    write_file(
        context.out.join("fig5_auc.csv"),
        auc_csv(&labels, &records)?,
    )?;
    for (label, runs) in labels.iter().zip(&records).skip(1) {
        let treatment = context.aucs(runs);
        context.compare(
            "fig5",
            &format!("{label} vs baseline"),
            "AUC of best validation",
            &treatment,
            &baseline,
        );
    }
    Ok(())
}

/// Fig. 6: test accuracy (unseen by the search) of the best-by-validation candidate.
pub(super) fn fig6(context: &mut Experiment<'_>) -> anyhow::Result<()> {
    let conditions = technique_conditions();
    let bar = context.bar("fig6", conditions.len() * context.repeats);
    let records = context.run_all(&conditions, &bar)?;
    bar.finish_and_clear();
    best_test_groups(
        context,
        "fig6",
        &Axes {
            title: "Re-evaluation of the best candidate on test data",
            x: "technique",
            y: "test accuracy of best-by-validation",
        },
        "",
        &conditions,
        &records,
    )
}

/// The test accuracy of each condition's best-by-validation candidate, one column of
/// dots per condition, each compared with the first condition: Figs. 6 and 11.
pub(super) fn best_test_groups(
    context: &mut Experiment<'_>,
    figure: &str,
    axes: &Axes<'_>,
    comparison_suffix: &str,
    conditions: &[Condition],
    records: &[Vec<Run>],
) -> anyhow::Result<()> {
    let mut groups = Vec::new();
    let mut csv = String::from("condition,noise_sd,repeat,test_accuracy_of_best\n");
    for (condition, runs) in conditions.iter().zip(records) {
        let values: Vec<f64> = runs.iter().map(|r| r.final_test).collect();
        for (r, v) in values.iter().enumerate() {
            writeln!(csv, "{},{},{r},{v}", condition.label, condition.noise_sd)?;
        }
        groups.push((condition.label.clone(), values));
    }
    write_file(context.out.join(format!("{figure}.csv")), csv)?;
    plot::groups(&context.out.join(figure), axes, &groups)?;
    for (label, values) in groups.iter().skip(1) {
        let baseline = groups[0].1.clone();
        context.compare(
            figure,
            &format!("{label} vs {}{comparison_suffix}", groups[0].0),
            "test accuracy of the best",
            values,
            &baseline,
        );
    }
    Ok(())
}

/// Fig. 7: FEC's AUC improvement over a grid of population and tournament sizes.
pub(super) fn fig7(context: &mut Experiment<'_>) -> anyhow::Result<()> {
    let (populations, tournaments): (Vec<usize>, Vec<usize>) = if context.options.quick {
        (vec![20, 100], vec![5, 10])
    } else {
        (vec![20, 50, 100, 200], vec![2, 5, 10, 25])
    };
    let repeats = if context.options.quick {
        context.repeats
    } else {
        context.repeats.min(100)
    };
    let bar = context.bar("fig7", populations.len() * tournaments.len() * 2 * repeats);
    let mut values = Vec::new();
    let mut csv =
        String::from("population,tournament,baseline_auc,fec_auc,ratio,p_value,repeats\n");
    for &tournament in &tournaments {
        let mut row = Vec::new();
        for &population in &populations {
            let config = EvolutionConfig {
                population_size: population,
                tournament_size: tournament.min(population),
                replacement: Replacement::Oldest,
            };
            let mut base = Condition::new("baseline", Techniques::NONE);
            base.algo = Algo::Evolution(config);
            let mut fec = Condition::new("FEC", Techniques::FEC);
            fec.algo = Algo::Evolution(config);
            let b = context.run(&base, repeats, &bar)?;
            let b = context.aucs(&b);
            let f = context.run(&fec, repeats, &bar)?;
            let f = context.aucs(&f);
            let ratio = stats::mean_sem(&f).0 / stats::mean_sem(&b).0;
            let (_, p) = stats::mann_whitney(&f, &b);
            writeln!(
                csv,
                "{population},{tournament},{},{},{ratio},{p},{repeats}",
                stats::mean_sem(&b).0,
                stats::mean_sem(&f).0
            )?;
            context.compare(
                "fig7",
                &format!("FEC vs baseline, P={population}, T={tournament}"),
                "AUC of best validation",
                &f,
                &b,
            );
            row.push(ratio);
        }
        values.push(row);
    }
    bar.finish_and_clear();
    write_file(context.out.join("fig7.csv"), csv)?;
    let xs: Vec<String> = populations.iter().map(|p| p.to_string()).collect();
    let ys: Vec<String> = tournaments.iter().map(|t| t.to_string()).collect();
    plot::heatmap(
        &context.out.join("fig7"),
        &Axes {
            title: "FEC / baseline AUC ratio",
            x: "population size",
            y: "tournament size",
        },
        &xs,
        &ys,
        &values,
    )
}

/// Each base condition without and with FEC: curves of all, and the AUC of each
/// FEC variant compared with its base. Figs. 8 and 9.
pub(super) fn with_and_without_fec(
    context: &mut Experiment<'_>,
    figure: &str,
    title: &str,
    bases: Vec<Condition>,
) -> anyhow::Result<()> {
    let mut conditions = Vec::new();
    for base in bases {
        let mut fec = base.clone();
        fec.label = format!("{} + FEC", base.label);
        fec.techniques = Techniques::FEC;
        conditions.push(base);
        conditions.push(fec);
    }
    let total: usize = conditions.iter().map(|c| c.repeats(context.repeats)).sum();
    let bar = context.bar(figure, total);
    let records = context.run_all(&conditions, &bar)?;
    bar.finish_and_clear();
    let labels: Vec<String> = conditions.iter().map(|c| c.label.clone()).collect();
    context.curves(figure, title, &labels, &records)?;
    let hit_rates: Vec<String> = records
        .chunks(2)
        .zip(labels.chunks(2))
        .map(|(runs, names)| {
            let (hits, started) = runs[1]
                .iter()
                .flat_map(|run| &run.hit_bins)
                .fold((0, 0), |(h, s), &(bin_h, bin_s)| (h + bin_h, s + bin_s));
            format!(
                "{} {:.1}%",
                names[1],
                100.0 * hits as f64 / started.max(1) as f64
            )
        })
        .collect();
    context.notes.push(format!(
        "{figure}: FEC hit rate over all repeats: {}.",
        hit_rates.join(", ")
    ));
    for (runs, names) in records.chunks(2).zip(labels.chunks(2)) {
        let (b, f) = (context.aucs(&runs[0]), context.aucs(&runs[1]));
        context.compare(
            figure,
            &format!("{} vs {}", names[1], names[0]),
            "AUC of best validation",
            &f,
            &b,
        );
    }
    Ok(())
}

/// Fig. 8: FEC with regularized evolution, classic tournament selection, PPO,
/// local search (first improvement from one random start) and BANANAS (at most
/// half the repeats and at most [`BANANAS_REPEATS`]; its predictors' real time is
/// printed).
pub(super) fn fig8(context: &mut Experiment<'_>) -> anyhow::Result<()> {
    let classic = EvolutionConfig {
        replacement: Replacement::Worst,
        ..PAPER_EVOLUTION
    };
    let bases = [
        ("RE", Algo::Evolution(PAPER_EVOLUTION)),
        ("TS", Algo::Evolution(classic)),
        ("PPO", Algo::Ppo),
        ("LS", Algo::LocalSearch(LocalSearchConfig::DEFAULT)),
        ("BANANAS", Algo::Bananas(BananasConfig::paper())),
    ]
    .map(|(name, algo)| Condition {
        algo,
        ..Condition::new(name, Techniques::NONE)
    });
    with_and_without_fec(context, "fig8", "FEC across algorithms", bases.to_vec())?;
    let bananas = bases
        .iter()
        .find(|c| matches!(c.algo, Algo::Bananas(_)))
        .expect("Fig. 8 runs BANANAS");
    for fec in [false, true] {
        let mut condition = bananas.clone();
        if fec {
            condition.techniques = Techniques::FEC;
        }
        let repeats = condition.repeats(context.repeats);
        let runs = context.run(&condition, repeats, &ProgressBar::hidden())?;
        let seconds: Vec<f64> = runs.iter().map(|r| r.algorithm_s).collect();
        let (mean, sem) = stats::mean_sem(&seconds);
        // Real time varies from run to run, so it goes to the console, not into
        // the summary (which a run reproduces to the byte).
        say!(
            "fig8: BANANAS{}: predictors {mean:.2} ± {sem:.2} s of real time per search over {repeats} repeats (not on the simulated clock)",
            if fec { " + FEC" } else { "" }
        );
    }
    Ok(())
}

/// Fig. 9: serial and distributed (16 asynchronous workers), with and without FEC.
pub(super) fn fig9(context: &mut Experiment<'_>) -> anyhow::Result<()> {
    let bases = [("serial", 1), ("16 workers", 16)].map(|(name, workers)| Condition {
        workers,
        ..Condition::new(name, Techniques::NONE)
    });
    with_and_without_fec(context, "fig9", "Serial vs distributed", bases.to_vec())
}

/// Fig. 10: mantissa bits from 1 upward: models per hash over the table, and search
/// quality with a plain and a forgetful cache.
pub(super) fn fig10(context: &mut Experiment<'_>) -> anyhow::Result<()> {
    let bits: Vec<u32> = if context.options.quick {
        vec![1, 4, 8, 24]
    } else {
        vec![1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 20, 24, 32, 52]
    };
    let table = context.bench.table.as_ref();
    let mut models_per_hash = Vec::new();
    for &m in &bits {
        let hasher = TableHasherConfig {
            mantissa_bits: MantissaBits::f64(m)?,
            cost_s: 0.0,
        }
        .build(table)?;
        models_per_hash.push(table.len() as f64 / hasher.group_models().len() as f64);
    }
    let repeats = if context.options.quick {
        context.repeats
    } else {
        context.repeats.min(100)
    };
    let bar = context.bar("fig10", bits.len() * 2 * repeats + repeats);
    let baseline = context.run(&Condition::new("baseline", Techniques::NONE), repeats, &bar)?;
    let baseline_final: Vec<f64> = baseline.iter().map(|r| r.final_validation).collect();
    let baseline_auc = context.aucs(&baseline);
    let mut plain = Vec::new();
    let mut forget = Vec::new();
    let mut csv = String::from(
        "mantissa_bits,models_per_hash,fec_final_validation_mean,fec_final_validation_sem,forgetful_final_validation_mean,forgetful_final_validation_sem,baseline_final_validation_mean,repeats\n",
    );
    for (i, &m) in bits.iter().enumerate() {
        let mut c = Condition::new("FEC", Techniques::FEC);
        c.mantissa_bits = m;
        let f = context.run(&c, repeats, &bar)?;
        let mut c = Condition::new("forgetful FEC", forgetful(0.1));
        c.mantissa_bits = m;
        let g = context.run(&c, repeats, &bar)?;
        let fv: Vec<f64> = f.iter().map(|r| r.final_validation).collect();
        let gv: Vec<f64> = g.iter().map(|r| r.final_validation).collect();
        let (fm, fs) = stats::mean_sem(&fv);
        let (gm, gs) = stats::mean_sem(&gv);
        writeln!(
            csv,
            "{m},{},{fm},{fs},{gm},{gs},{},{repeats}",
            models_per_hash[i],
            stats::mean_sem(&baseline_final).0
        )?;
        plain.push((f64::from(m), fm, fs));
        forget.push((f64::from(m), gm, gs));
        context.compare(
            "fig10",
            &format!("FEC at {m} bits vs baseline"),
            "AUC of best validation",
            &context.aucs(&f),
            &baseline_auc,
        );
        context.compare(
            "fig10",
            &format!("forgetful FEC at {m} bits vs baseline"),
            "AUC of best validation",
            &context.aucs(&g),
            &baseline_auc,
        );
    }
    bar.finish_and_clear();
    write_file(context.out.join("fig10.csv"), csv)?;
    let (bm, bs) = stats::mean_sem(&baseline_final);
    let base_line: Vec<(f64, f64, f64)> = bits.iter().map(|&m| (f64::from(m), bm, bs)).collect();
    plot::lines(
        &context.out.join("fig10_quality"),
        &Axes {
            title: "Search quality vs mantissa bits",
            x: "mantissa bits kept",
            y: "final best validation accuracy (mean ± 2 SEM)",
        },
        &[
            Line {
                name: "FEC".into(),
                points: plain,
            },
            Line {
                name: "forgetful FEC (p = 0.1)".into(),
                points: forget,
            },
            Line {
                name: "baseline (no cache)".into(),
                points: base_line,
            },
        ],
        true,
    )?;
    plot::lines(
        &context.out.join("fig10_collisions"),
        &Axes {
            title: "Models per functional hash",
            x: "mantissa bits kept",
            y: "models per distinct hash",
        },
        &[Line {
            name: "models / distinct hashes".into(),
            points: bits
                .iter()
                .zip(&models_per_hash)
                .map(|(&m, &v)| (f64::from(m), v, 0.0))
                .collect(),
        }],
        false,
    )
}

/// Fig. 11 (right): evaluation noise; baseline, FEC and FEA. The best candidates are
/// re-evaluated without noise (mean validation accuracy over the repeats).
pub(super) fn fig11(context: &mut Experiment<'_>) -> anyhow::Result<()> {
    let table = context.bench.table.as_ref();
    let full = table.budgets().len() - 1;
    // Noise as large as the spread of accuracies between the table's repeats.
    let mut spread = Vec::new();
    for i in 0..table.len() {
        let runs = table.model_at(i).runs(full);
        let v: Vec<f64> = runs.iter().map(|r| r.end.validation_accuracy).collect();
        spread.push(stats::mean_sem(&v).1 * (v.len() as f64).sqrt());
    }
    let noise = stats::mean_sem(&spread).0;
    let mut conditions = vec![
        Condition::new("baseline", Techniques::NONE),
        Condition::new("FEC", Techniques::FEC),
        Condition::new("FEA (3 evals)", fea(3)),
        Condition::new("FEA (10 evals)", fea(10)),
    ];
    for c in &mut conditions {
        c.noise_sd = noise;
    }
    let bar = context.bar("fig11", conditions.len() * context.repeats);
    let records = context.run_all(&conditions, &bar)?;
    bar.finish_and_clear();
    // Re-evaluation of the best-by-noisy-validation candidate: the test accuracy of
    // its training run, which the noise never touches (the noise is added to
    // validation accuracy only).
    best_test_groups(
        context,
        "fig11",
        &Axes {
            title: &format!("Noisy evaluation (σ = {noise:.4}): best candidates re-evaluated"),
            x: "technique",
            y: "test accuracy of best-by-noisy-validation",
        },
        &format!(" (noise {noise:.4})"),
        &conditions,
        &records,
    )
}

/// Fig. 12: cache hit rate over the experiment.
pub(super) fn fig12(context: &mut Experiment<'_>) -> anyhow::Result<()> {
    let bar = context.bar("fig12", context.repeats);
    let repeats = context.repeats;
    let runs = context.run(&Condition::new("FEC", Techniques::FEC), repeats, &bar)?;
    bar.finish_and_clear();
    let width = context.bench.budget_s / HIT_BINS as f64;
    let mut per_bin: Vec<Vec<f64>> = vec![Vec::new(); HIT_BINS];
    for run in &runs {
        for (b, &(hits, total)) in run.hit_bins.iter().enumerate() {
            if total > 0 {
                per_bin[b].push(hits as f64 / total as f64);
            }
        }
    }
    let mut csv = String::from("time_s,hit_rate_mean,hit_rate_sem,repeats\n");
    let mut points = Vec::new();
    for (b, values) in per_bin.iter().enumerate() {
        let (m, s) = stats::mean_sem(values);
        let t = (b as f64 + 0.5) * width;
        writeln!(csv, "{t},{m},{s},{}", values.len())?;
        points.push((t, m, s));
    }
    write_file(context.out.join("fig12.csv"), csv)?;
    plot::lines(
        &context.out.join("fig12"),
        &Axes {
            title: "FEC cache hit rate over the experiment",
            x: "simulated time (s)",
            y: "fraction of candidates that hit the cache",
        },
        &[Line {
            name: "FEC hit rate".into(),
            points,
        }],
        true,
    )
}

/// Fig. 13 analogue: equivalences the functional hash finds that the structural hash
/// misses — distinct pruned cells that share a functional hash.
pub(super) fn fig13(context: &mut Experiment<'_>) -> anyhow::Result<()> {
    let table = context.bench.table.as_ref();
    let bits: Vec<u32> = vec![4, 8, 12, 16, 20, 24, 32, 52];
    let mut csv = String::from(
        "mantissa_bits,distinct_cells,distinct_functional_hashes,cells_sharing_a_hash,structural_misses\n",
    );
    let mut points = Vec::new();
    let mut pairs_text = String::new();
    for &m in &bits {
        let hasher = TableHasherConfig {
            mantissa_bits: MantissaBits::f64(m)?,
            cost_s: 0.0,
        }
        .build(table)?;
        let buckets = hasher.group_models();
        let sharing: usize = buckets.iter().filter(|v| v.len() > 1).map(Vec::len).sum();
        // Each bucket of k distinct pruned cells is k - 1 equivalences that the
        // structural hash, which keeps them apart, misses.
        let misses: usize = buckets.iter().map(|v| v.len() - 1).sum();
        writeln!(
            csv,
            "{m},{},{},{sharing},{misses}",
            table.len(),
            buckets.len()
        )?;
        points.push((f64::from(m), misses as f64, 0.0));
        // Concrete examples from the widest hash that still merges distinct cells.
        if buckets.iter().any(|v| v.len() > 1) {
            pairs_text.clear();
            writeln!(pairs_text, "at {m} mantissa bits:")?;
            for members in buckets.iter().filter(|v| v.len() > 1).take(5) {
                writeln!(
                    pairs_text,
                    "functional hash shared by {} cells:",
                    members.len()
                )?;
                for &i in members.iter().take(3) {
                    let model = table.model_at(i);
                    writeln!(
                        pairs_text,
                        "  module {} ({} parameters)\n{}",
                        model.key,
                        model.trainable_parameters,
                        indent(&model.cell.to_string())
                    )?;
                }
            }
        }
    }
    write_file(context.out.join("fig13.csv"), csv)?;
    write_file(
        context.out.join("fig13_pairs.txt"),
        if pairs_text.is_empty() {
            "no two distinct cells share a functional hash at any width tried\n".to_string()
        } else {
            pairs_text
        },
    )?;
    plot::lines(
        &context.out.join("fig13"),
        &Axes {
            title: "Equivalences missed by the structural hash",
            x: "mantissa bits kept",
            y: "distinct cells merged by the functional hash",
        },
        &[Line {
            name: "functional equivalences".into(),
            points,
        }],
        false,
    )
}
