use super::*;
use crate::nasbench101::*;

/// A table over every cell of at most 4 vertices with `budgets` (epochs,
/// repeats): `point(model, epochs, repeat, fraction)` gives the metrics at
/// `fraction` of a run (0.5 halfway, 1 at the end); model `m` has `base + m`
/// parameters.
fn table_of(
    mut builder: ModelTableBuilder,
    budgets: &[(u32, usize)],
    base: u64,
    point: impl Fn(usize, u32, usize, f64) -> EpochMetrics,
) -> ModelTable {
    for (model, (key, cell)) in enumerate_unique_cells(4, 9).into_iter().enumerate() {
        for &(epochs, repeats) in budgets {
            for repeat in 0..repeats {
                let run = RepeatMetrics {
                    halfway: point(model, epochs, repeat, 0.5),
                    end: point(model, epochs, repeat, 1.0),
                };
                builder
                    .add_run(key, cell, base + model as u64, epochs, run)
                    .unwrap();
            }
        }
    }
    builder.finish().unwrap()
}

/// A synthetic table over every cell of at most 4 vertices: accuracies derived
/// from the model index, so tests can predict them.
pub(crate) fn synthetic_table(budgets: &[u32]) -> ModelTable {
    let budgets: Vec<(u32, usize)> = budgets.iter().map(|&e| (e, 3)).collect();
    table_of(
        ModelTableBuilder::new(3),
        &budgets,
        1000,
        |model, epochs, repeat, fraction| {
            let base = 0.5 + model as f64 / 1000.0 + f64::from(epochs) / 1e4;
            EpochMetrics {
                training_time: f64::from(epochs) * fraction * 10.0 + repeat as f64,
                train_accuracy: base + 0.01 * fraction,
                validation_accuracy: base + 0.001 * repeat as f64,
                test_accuracy: base - 0.001,
            }
        },
    )
}

#[test]
fn builder_orders_budgets_and_numbers_repeats() {
    let table = synthetic_table(&[108, 4]);
    assert_eq!(table.budgets(), &[4, 108]);
    assert_eq!(table.len(), 91);
    table.verify_keys().unwrap();
    let model = table.model_at(5);
    assert_eq!(model.runs(1)[2].end.training_time, 1080.0 + 2.0);
    assert_eq!(model.runs(0)[0].end.training_time, 40.0);
    assert_eq!(table.model(&model.key).unwrap().cell, model.cell);
}

#[test]
fn builder_refuses_incomplete_and_extra_runs() {
    let (key, cell) = enumerate_unique_cells(3, 9)[1];
    let point = EpochMetrics {
        training_time: 1.0,
        train_accuracy: 0.5,
        validation_accuracy: 0.5,
        test_accuracy: 0.5,
    };
    let run = RepeatMetrics {
        halfway: point,
        end: point,
    };
    let mut builder = ModelTableBuilder::new(2);
    builder.add_run(key, cell, 7, 108, run).unwrap();
    let err = builder.finish().unwrap_err();
    assert_eq!(
        err,
        TableError::Incomplete {
            key,
            epochs: 108,
            found: 1,
            expected: 2
        }
    );
    let mut builder = ModelTableBuilder::new(1);
    builder.add_run(key, cell, 7, 108, run).unwrap();
    assert!(matches!(
        builder.add_run(key, cell, 7, 108, run),
        Err(TableError::ExtraRepeat { .. })
    ));
    assert!(matches!(
        builder.add_run(key, cell, 8, 4, run),
        Err(TableError::Inconsistent { .. })
    ));
}

#[test]
fn binary_round_trip_and_corruption() {
    let table = synthetic_table(&[4, 108]);
    let mut bytes = Vec::new();
    table.write_binary(&mut bytes, "synthetic v1").unwrap();
    let (back, metadata) = ModelTable::read_binary(&bytes).unwrap();
    assert_eq!(metadata, "synthetic v1");
    assert_eq!(back.budgets(), table.budgets());
    for i in 0..table.len() {
        assert_eq!(back.model_at(i).key, table.model_at(i).key);
        assert_eq!(back.model_at(i).runs(1), table.model_at(i).runs(1));
    }
    let mut flipped = bytes.clone();
    flipped[100] ^= 1;
    assert!(matches!(
        ModelTable::read_binary(&flipped),
        Err(BinaryTableError::Checksum { .. })
    ));
    assert!(ModelTable::read_binary(&bytes[..bytes.len() - 10]).is_err());
    assert!(matches!(
        ModelTable::read_binary(b"not a table at all"),
        Err(BinaryTableError::Format(_))
    ));
}

/// A table whose accuracies are counts over 400 / 397 / 400 examples, with one
/// repeat at the short budget and three at the long one, as the large embedded
/// table has.
fn counted_table() -> ModelTable {
    let builder = ModelTableBuilder::new(3).repeats_at(2, 1);
    table_of(
        builder,
        &[(4, 3), (2, 1)],
        100,
        |model, epochs, repeat, fraction| {
            let correct = (model * 7 + repeat * 3 + epochs as usize) % 397;
            EpochMetrics {
                training_time: f64::from(epochs) * fraction * 0.037 + repeat as f64,
                train_accuracy: (correct as f64 + fraction).floor() / 400.0,
                validation_accuracy: correct as f64 / 397.0,
                test_accuracy: (400 - correct) as f64 / 400.0,
            }
        },
    )
}

const COUNTED: ExampleCounts = ExampleCounts {
    train: 400,
    validation: 397,
    test: 400,
};

#[test]
fn budgets_may_have_their_own_repeat_counts() {
    let table = counted_table();
    assert_eq!(table.budgets(), &[2, 4]);
    assert_eq!((table.repeats(0), table.repeats(1)), (1, 3));
    let model = table.model_at(9);
    assert_eq!(model.runs(0).len(), 1);
    assert_eq!(model.runs(1).len(), 3);
    assert_eq!(model.runs(1)[2].end.training_time, 4.0 * 0.037 + 2.0);
    let fixed = |repeat| TableEvaluatorConfig {
        repeat: RepeatChoice::Fixed(repeat),
        ..TableEvaluatorConfig::PAPER
    };
    assert!(
        fixed(2).build(&table).is_ok(),
        "the long budget has 3 repeats"
    );
    let short = TableEvaluatorConfig {
        budget_epochs: Some(2),
        ..fixed(1)
    };
    assert_eq!(
        short.build(&table).unwrap_err(),
        TableConfigError::Repeat {
            repeat: 1,
            repeats: 1
        }
    );
    let mut bytes = Vec::new();
    let error = table.write_binary(&mut bytes, "v1").unwrap_err();
    assert!(error.to_string().contains("write_compact"), "{error}");
}

#[test]
fn compact_round_trip_keeps_accuracies_bit_for_bit_and_rejects_damage() {
    let table = counted_table();
    let mut bytes = Vec::new();
    table
        .write_compact(&mut bytes, "counted v2", COUNTED)
        .unwrap();
    let mut wide = Vec::new();
    synthetic_table(&[4, 108])
        .write_binary(&mut wide, "")
        .unwrap();
    assert!(
        bytes.len() * 2 < wide.len(),
        "{} compact bytes, {} in version 1",
        bytes.len(),
        wide.len()
    );
    let (back, metadata) = ModelTable::read_binary(&bytes).unwrap();
    assert_eq!(metadata, "counted v2");
    assert_eq!(back.budgets(), table.budgets());
    assert_eq!((back.repeats(0), back.repeats(1)), (1, 3));
    for i in 0..table.len() {
        let (a, b) = (table.model_at(i), back.model_at(i));
        assert_eq!(
            (a.key, a.cell, a.trainable_parameters),
            (b.key, b.cell, b.trainable_parameters)
        );
        for budget in 0..2 {
            for (x, y) in a.runs(budget).iter().zip(b.runs(budget)) {
                for (p, q) in [(x.halfway, y.halfway), (x.end, y.end)] {
                    let bits = |e: EpochMetrics| {
                        [e.train_accuracy, e.validation_accuracy, e.test_accuracy].map(f64::to_bits)
                    };
                    assert_eq!(bits(p), bits(q), "model {i}");
                    assert_eq!(p.training_time as f32, q.training_time as f32);
                }
            }
        }
    }
    // Damage anywhere is caught by the checksum; a cut file too.
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 4;
    assert!(matches!(
        ModelTable::read_binary(&flipped),
        Err(BinaryTableError::Checksum { .. })
    ));
    for cut in [bytes.len() - 1, bytes.len() / 3, 12] {
        assert!(
            ModelTable::read_binary(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    // A file with a consistent checksum but too few run bytes names the shortfall.
    let mut short = bytes[..bytes.len() - 4 - 20].to_vec();
    let crc = crc32c::crc32c(&short);
    short.extend_from_slice(&crc.to_le_bytes());
    let error = ModelTable::read_binary(&short).unwrap_err();
    assert!(
        matches!(error, BinaryTableError::Truncated { needed: 20, .. }),
        "{error}"
    );
    // An accuracy that is not a count over its set cannot be written.
    let error = synthetic_table(&[4])
        .write_compact(&mut Vec::new(), "", COUNTED)
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("is not a count over"), "{message}");
    assert!(message.contains("model "), "{message}");
}
