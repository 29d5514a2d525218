use rand::SeedableRng;

use super::*;
use crate::automl_zero::program::MemoryLayout;

const LAYOUT: MemoryLayout = MemoryLayout {
    scalars: 4,
    vectors: 3,
    matrices: 2,
};

fn exec(ins: Instruction, mem: &mut Memory<2>) {
    execute(&ins, mem, &mut SearchRng::seed_from_u64(0));
}

#[test]
fn ops_compute_what_their_docs_say() {
    let mut mem = Memory::<2>::new(LAYOUT);
    mem.scalars[2] = 3.0;
    mem.vectors[1] = [1.0, 2.0];
    mem.vectors[2] = [3.0, -4.0];
    mem.matrices[0] = [[1.0, 2.0], [3.0, 4.0]];
    exec(
        Instruction::new(Op::VectorInnerProduct, &[1, 2], 3),
        &mut mem,
    );
    assert_eq!(mem.scalars[3], -5.0);
    exec(Instruction::new(Op::VectorNorm, &[2], 3), &mut mem);
    assert_eq!(mem.scalars[3], 5.0);
    exec(
        Instruction::new(Op::VectorOuterProduct, &[1, 2], 1),
        &mut mem,
    );
    assert_eq!(mem.matrices[1], [[3.0, -4.0], [6.0, -8.0]]);
    exec(
        Instruction::new(Op::MatrixVectorProduct, &[0, 1], 2),
        &mut mem,
    );
    assert_eq!(mem.vectors[2], [5.0, 11.0]);
    exec(
        Instruction::new(Op::MatrixMatrixProduct, &[0, 0], 1),
        &mut mem,
    );
    assert_eq!(mem.matrices[1], [[7.0, 10.0], [15.0, 22.0]]);
    exec(
        Instruction::new(Op::VectorColumnBroadcast, &[1], 1),
        &mut mem,
    );
    assert_eq!(mem.matrices[1], [[1.0, 1.0], [2.0, 2.0]]);
    exec(Instruction::new(Op::VectorRowBroadcast, &[1], 1), &mut mem);
    assert_eq!(mem.matrices[1], [[1.0, 2.0], [1.0, 2.0]]);
    exec(Instruction::new(Op::MatrixColumnNorm, &[0], 2), &mut mem);
    assert_eq!(mem.vectors[2], [10f64.sqrt(), 20f64.sqrt()]);
    exec(Instruction::new(Op::MatrixRowMean, &[0], 2), &mut mem);
    assert_eq!(mem.vectors[2], [1.5, 3.5]);
    exec(Instruction::new(Op::MatrixStDev, &[0], 3), &mut mem);
    assert_eq!(mem.scalars[3], 1.25f64.sqrt());
    exec(Instruction::new(Op::MatrixTranspose, &[0], 1), &mut mem);
    assert_eq!(mem.matrices[1], [[1.0, 3.0], [2.0, 4.0]]);
    exec(Instruction::new(Op::ScalarHeaviside, &[0], 3), &mut mem);
    assert_eq!(mem.scalars[3], 1.0, "heaviside(0) = 1 for scalars");
    mem.vectors[2] = [0.0, 2.0];
    exec(Instruction::new(Op::VectorHeaviside, &[2], 2), &mut mem);
    assert_eq!(mem.vectors[2], [0.0, 1.0], "but 0 for vector elements");
    let set = Instruction {
        op: Op::MatrixConstSet,
        out: 1,
        index: [1, 0],
        data: [9.0, 0.0],
        ..Instruction::NO_OP
    };
    exec(set, &mut mem);
    assert_eq!(mem.matrices[1][1][0], 9.0);
}

#[test]
fn min_and_max_treat_nan_as_cpp_does() {
    assert_eq!(min(f64::NAN, 1.0).to_bits(), f64::NAN.to_bits());
    assert_eq!(min(1.0, f64::NAN), 1.0);
    assert_eq!(max(2.0, 1.0), 2.0);
}

#[test]
fn squashing_maps_errors_into_the_unit_interval() {
    assert_eq!(flip_and_squash(0.0), 1.0);
    assert!((flip_and_squash(1.0) - 0.5).abs() < 1e-15);
    assert_eq!(flip_and_squash(f64::INFINITY), 0.0);
    assert_eq!(flip_and_squash(f64::NAN), 0.0);
}

/// Tasks of different sizes and both kinds, some with test examples.
fn mixed_tasks() -> Vec<Task<4>> {
    use crate::automl_zero::task::{SplitSizes, linear_regression_tasks};
    let sizes = SplitSizes {
        train: 40,
        valid: 30,
        test: 20,
    };
    let mut tasks = linear_regression_tasks::<4>(7, sizes, 3);
    for (i, task) in tasks.iter_mut().enumerate() {
        let keep = |e: &mut Examples<4>, n: usize| {
            e.features.truncate(n);
            e.labels.truncate(n);
        };
        keep(&mut task.train, 40 - 5 * i);
        keep(&mut task.valid, 30 - 4 * i);
        if i % 2 == 1 {
            task.eval = EvalType::Accuracy;
            for label in &mut task.valid.labels {
                *label = f64::from(u8::from(*label > 0.0));
            }
        }
    }
    tasks
}

#[test]
fn tasks_side_by_side_run_exactly_as_alone() {
    use crate::automl_zero::space::{InitialProgram, Mutation, ProgramSpaceConfig, SizeBounds};
    use ufh_search::SearchSpace;
    let layout = MemoryLayout {
        scalars: 5,
        vectors: 4,
        matrices: 3,
    };
    let space = ProgramSpaceConfig {
        features: 4,
        layout,
        setup_ops: Op::ALL.to_vec(),
        predict_ops: Op::ALL.to_vec(),
        learn_ops: Op::ALL.to_vec(),
        setup_size: SizeBounds::fixed(6),
        predict_size: SizeBounds::fixed(4),
        learn_size: SizeBounds::fixed(6),
        mutations: vec![Mutation::AlterParam],
        mutate_prob: 0.9,
        initial: InitialProgram::Random,
    }
    .build()
    .expect("a valid space");
    let tasks = mixed_tasks();
    let mut rng = SearchRng::seed_from_u64(11);
    let (mut trained, mut validated, mut diverged_training, mut diverged_validation) = (0, 0, 0, 0);
    for _ in 0..400 {
        let program = space.sample(&mut rng);
        for (limits_train, record) in [(usize::MAX, false), (10, true)] {
            let limits = Limits {
                n_train: limits_train,
                n_valid: limits_train,
                test: !record,
                record_errors: record,
                score: !record,
            };
            let run = |together: bool| {
                let mut memories: Vec<Memory<4>> =
                    tasks.iter().map(|_| Memory::new(layout)).collect();
                let mut errors = vec![Vec::new(); tasks.len()];
                let mut lanes: Vec<Lane<'_, 4>> = tasks
                    .iter()
                    .zip(&mut memories)
                    .zip(&mut errors)
                    .enumerate()
                    .map(|(i, ((task, mem), errors))| {
                        Lane::new(
                            i,
                            task,
                            mem,
                            SearchRng::seed_from_u64(task.rng_seed),
                            errors,
                        )
                    })
                    .collect();
                if together {
                    run_tasks(&program, &mut lanes, limits);
                } else {
                    for lane in lanes.chunks_mut(1) {
                        run_tasks(&program, lane, limits);
                    }
                }
                in_task_order(&mut lanes);
                let outcomes: Vec<_> = lanes
                    .iter()
                    .map(|l| {
                        let o = l.outcome;
                        (
                            o.validation.to_bits(),
                            o.test.to_bits(),
                            o.train_steps,
                            o.diverged,
                        )
                    })
                    .collect();
                drop(lanes);
                let errors: Vec<Vec<u64>> = errors
                    .iter()
                    .map(|e| e.iter().map(|x| x.to_bits()).collect())
                    .collect();
                (outcomes, errors)
            };
            let together = run(true);
            assert_eq!(together, run(false), "{program}");
            for &(_, _, steps, diverged) in &together.0 {
                trained += usize::from(steps > 0);
                match diverged {
                    Some(Divergence::Training(_)) => diverged_training += 1,
                    Some(Divergence::Validation(_)) => diverged_validation += 1,
                    None => validated += 1,
                }
            }
        }
    }
    // The programs exercised every way a task can end.
    assert!(trained > 0 && validated > 100, "{validated} validated");
    assert!(
        diverged_training > 100,
        "{diverged_training} diverged in training"
    );
    assert!(
        diverged_validation > 10,
        "{diverged_validation} diverged in validation"
    );
}
