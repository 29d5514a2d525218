//! Tests of symbolic spaces: sampling, mutation, neighbours, encodings and the
//! golden layout of DNA.

use std::collections::BTreeMap;

use proptest::prelude::{any, prop_assert, prop_assert_ne, proptest};
use rand::Rng;

use super::*;
use crate::testutil::rng;
use crate::{Budget, EvolutionConfig, LocalSearchConfig, Mode, PpoConfig, Replacement, Search};

type S = Space<&'static str>;

fn space(s: S) -> SymbolicSpace<&'static str> {
    SymbolicSpace::new(s).expect("a valid space")
}

/// Pearson's statistic of `counts` against equal cell probabilities, below a
/// bound about six standard deviations above its mean under uniformity.
fn assert_uniform<K: Ord + fmt::Debug>(counts: &BTreeMap<K, usize>, cells: usize) {
    assert_eq!(counts.len(), cells, "cells seen: {counts:?}");
    let n: usize = counts.values().sum();
    let expected = n as f64 / cells as f64;
    let chi2: f64 = counts
        .values()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum();
    let df = (cells - 1) as f64;
    assert!(
        chi2 < df + 6.0 * (2.0 * df).sqrt() + 10.0,
        "chi-square {chi2:.1} on {df} degrees of freedom: {counts:?}"
    );
}

fn histogram(s: &SymbolicSpace<&'static str>, draws: usize, seed: u64) -> BTreeMap<String, usize> {
    let mut r = rng(seed);
    let mut counts = BTreeMap::new();
    for _ in 0..draws {
        let value = s.materialize(&s.sample(&mut r)).expect("samples fit");
        *counts.entry(value.to_string()).or_insert(0) += 1;
    }
    counts
}

fn options(n: usize) -> Vec<S> {
    ["a", "b", "c", "d", "e"][..n]
        .iter()
        .map(|&v| Space::Fixed(v))
        .collect()
}

#[test]
fn sampling_is_uniform_over_every_kind_of_decision() {
    assert_uniform(&histogram(&space(Space::oneof(options(4))), 40_000, 1), 4);
    assert_uniform(&histogram(&space(Space::intv(-3, 3)), 40_000, 2), 7);
    assert_uniform(
        &histogram(&space(Space::floatv_grid(0.0, 1.0, 5)), 40_000, 3),
        5,
    );
    // manyof: ordered tuples (4^2), permutations (4·3), combinations (C(4,2)),
    // multisets (C(5,2)).
    for (distinct, sorted, cells) in [
        (false, false, 16),
        (true, false, 12),
        (true, true, 6),
        (false, true, 10),
    ] {
        let s = space(Space::manyof(2, options(4), distinct, sorted));
        assert_uniform(&histogram(&s, 60_000, 4), cells);
    }
    // A continuous floatv, in ten bins of its range.
    let s = space(Space::floatv(-1.0, 1.0));
    let mut r = rng(5);
    let mut bins = BTreeMap::new();
    for _ in 0..40_000 {
        let v = s
            .materialize(&s.sample(&mut r))
            .unwrap()
            .as_float()
            .unwrap();
        assert!((-1.0..1.0).contains(&v));
        *bins.entry(((v + 1.0) * 5.0) as usize).or_insert(0) += 1;
    }
    assert_uniform(&bins, 10);
}

#[test]
fn the_uniformity_check_catches_a_biased_sampler() {
    // iid draws sorted afterwards are not uniform over multisets ({a,a} has
    // half the probability of {a,b}): the check must see that.
    let mut r = rng(6);
    let mut counts = BTreeMap::new();
    for _ in 0..60_000 {
        let mut pair = [r.random_range(0..4), r.random_range(0..4)];
        pair.sort_unstable();
        *counts.entry(pair).or_insert(0usize) += 1;
    }
    let caught = std::panic::catch_unwind(|| assert_uniform(&counts, 10));
    assert!(caught.is_err());
}

/// A space with every kind of decision, nested: conditional options, picks
/// with sub-decisions, ranges.
fn nested() -> SymbolicSpace<&'static str> {
    space(Space::dict([
        (
            "layer",
            Space::oneof([
                Space::dict([("kind", Space::Fixed("conv")), ("width", Space::intv(1, 4))]),
                Space::dict([
                    ("kind", Space::Fixed("dense")),
                    ("dropout", Space::floatv_grid(0.0, 0.5, 6)),
                    ("act", Space::oneof(options(3))),
                ]),
                Space::Fixed("identity"),
            ]),
        ),
        (
            "blocks",
            Space::manyof(
                2,
                [
                    Space::Fixed("x"),
                    Space::list([Space::Fixed("y"), Space::intv(0, 2)]),
                    Space::oneof(options(2)),
                ],
                true,
                false,
            ),
        ),
        ("lr", Space::floatv_grid(0.001, 0.1, 4)),
        ("seed", Space::intv(0, 1000)),
    ]))
}

#[test]
fn golden_points_are_stable_across_releases() {
    // The DNA of the first three samples of `nested()` at seed 2024, as serde
    // JSON and as a decision list: a change here breaks saved points.
    let s = nested();
    let mut r = rng(2024);
    let points: Vec<Dna> = (0..3).map(|_| s.sample(&mut r)).collect();
    let json: Vec<String> = points
        .iter()
        .map(|d| serde_json::to_string(d).unwrap())
        .collect();
    let lists: Vec<String> = points.iter().map(ToString::to_string).collect();
    assert_eq!(
        json,
        [
            r#"{"Node":[{"Choice":[1,{"Node":["Fixed",{"Float":0.1},{"Choice":[0,"Fixed"]}]}]},{"Picks":[[1,{"Node":["Fixed",{"Int":2}]}],[2,{"Choice":[1,"Fixed"]}]]},{"Float":0.067},{"Int":95}]}"#,
            r#"{"Node":[{"Choice":[1,{"Node":["Fixed",{"Float":0.3},{"Choice":[2,"Fixed"]}]}]},{"Picks":[[1,{"Node":["Fixed",{"Int":1}]}],[0,"Fixed"]]},{"Float":0.1},{"Int":361}]}"#,
            r#"{"Node":[{"Choice":[0,{"Node":["Fixed",{"Int":4}]}]},{"Picks":[[2,{"Choice":[0,"Fixed"]}],[0,"Fixed"]]},{"Float":0.067},{"Int":263}]}"#,
        ]
    );
    assert_eq!(
        lists,
        [
            "1 0.1 0 1 2 2 1 0.067 95",
            "1 0.3 2 1 1 0 0.1 361",
            "0 4 2 0 0 0.067 263"
        ]
    );
    // A saved point means the same value.
    let saved: Dna = serde_json::from_str(&json[0]).unwrap();
    assert_eq!(
        s.materialize(&saved).unwrap().to_string(),
        "{layer: {kind: dense, dropout: 0.1, act: a}, blocks: [[y, 2], b], lr: 0.067, seed: 95}"
    );
}

#[test]
fn points_and_values_round_trip_through_serde() {
    let s = nested();
    let mut r = rng(8);
    for _ in 0..200 {
        let dna = s.sample(&mut r);
        let back: Dna = serde_json::from_str(&serde_json::to_string(&dna).unwrap()).unwrap();
        assert_eq!(back, dna);
        let value = s.materialize(&dna).unwrap();
        let back: Value<String> =
            serde_json::from_str(&serde_json::to_string(&value).unwrap()).unwrap();
        assert_eq!(back.to_string(), value.to_string());
    }
    let definition: Space<String> =
        serde_json::from_str(&serde_json::to_string(s.space()).unwrap()).unwrap();
    assert_eq!(definition.to_string(), s.to_string());
}

#[test]
fn the_printout_reads_like_the_definition() {
    let s = space(Space::dict([
        ("op", Space::oneof(options(2))),
        ("k", Space::manyof(2, options(3), true, true)),
        ("lr", Space::floatv(0.01, 0.1)),
        ("n", Space::intv(1, 8)),
    ]));
    assert_eq!(
        s.to_string(),
        "{op: oneof([a, b]), k: manyof(2, [a, b, c], distinct=true, sorted=true), \
         lr: floatv(0.01, 0.1), n: intv(1, 8)}"
    );
    let dna = Dna::Node(vec![
        Dna::Choice(1, Box::new(Dna::Fixed)),
        Dna::Picks(vec![(0, Dna::Fixed), (2, Dna::Fixed)]),
        Dna::Float(0.05),
        Dna::Int(3),
    ]);
    assert_eq!(dna.to_string(), "1 0 2 0.05 3");
    assert_eq!(
        s.materialize(&dna).unwrap().to_string(),
        "{op: b, k: [a, c], lr: 0.05, n: 3}"
    );
}

/// The flat decisions of two points of a space without conditional branches
/// that differ, position by position.
fn differing(a: &Dna, b: &Dna) -> usize {
    let (a, b) = (a.decisions(), b.decisions());
    assert_eq!(a.len(), b.len());
    a.iter().zip(&b).filter(|(x, y)| x != y).count()
}

#[test]
fn mutation_changes_exactly_one_decision() {
    let s = space(Space::list([
        Space::oneof(options(3)),
        Space::intv(0, 9),
        Space::floatv_grid(0.0, 1.0, 3),
        Space::floatv(0.0, 1.0),
        Space::manyof(3, options(5), false, false),
        Space::manyof(2, options(4), true, false),
    ]));
    let mut r = rng(9);
    let mut parent = s.sample(&mut r);
    let mut positions = BTreeMap::new();
    for _ in 0..5_000 {
        let child = s.mutate(&parent, &mut r);
        assert_eq!(differing(&parent, &child), 1, "{parent} -> {child}");
        let at = parent
            .decisions()
            .iter()
            .zip(child.decisions())
            .position(|(a, b)| *a != b)
            .unwrap();
        *positions.entry(at).or_insert(0) += 1;
        parent = child;
    }
    // Every decision is mutable here, and each is drawn uniformly.
    assert_uniform(&positions, 9);
}

#[test]
fn sorted_picks_mutate_as_sets_changing_one_member() {
    let s = space(Space::manyof(3, options(5), true, true));
    let mut r = rng(10);
    let mut parent = s.sample(&mut r);
    for _ in 0..1_000 {
        let child = s.mutate(&parent, &mut r);
        assert!(s.admits(&child));
        let set = |d: &Dna| -> Vec<usize> {
            d.decisions()
                .iter()
                .map(|x| match x {
                    Decision::Choice(i) => *i,
                    _ => unreachable!(),
                })
                .collect()
        };
        let (p, c) = (set(&parent), set(&child));
        assert_eq!(c.iter().filter(|i| !p.contains(i)).count(), 1);
        parent = child;
    }
}

#[test]
fn nothing_to_mutate_gives_the_parent() {
    let s = space(Space::list([
        Space::Fixed("a"),
        Space::intv(3, 3),
        Space::oneof(options(1)),
    ]));
    let mut r = rng(11);
    let dna = s.sample(&mut r);
    assert_eq!(s.mutate(&dna, &mut r), dna);
    assert!(s.neighbours(&dna).is_empty());
}

#[test]
fn neighbourhoods_are_every_single_decision_change() {
    let s = space(Space::list([
        Space::oneof(options(3)),
        Space::intv(0, 4),
        Space::floatv_grid(0.0, 1.0, 5),
        Space::manyof(2, options(4), true, false),
    ]));
    let dna = Dna::Node(vec![
        Dna::Choice(1, Box::new(Dna::Fixed)),
        Dna::Int(0),
        Dna::Float(0.5),
        Dna::Picks(vec![(0, Dna::Fixed), (2, Dna::Fixed)]),
    ]);
    let neighbours = s.neighbours(&dna);
    // 2 other options, 4 other integers, 2 grid steps, and per pick the 2
    // options no pick holds: [1, 2], [3, 2], [0, 1], [0, 3].
    assert_eq!(neighbours.len(), 2 + 4 + 2 + 4, "{neighbours:?}");
    for n in &neighbours {
        assert!(s.admits(n));
        assert_eq!(differing(&dna, n), 1, "{n}");
    }
    // Conditional branches: a changed option brings its first point.
    let n = nested();
    let point = n.sample(&mut rng(12));
    for neighbour in n.neighbours(&point) {
        assert!(n.admits(&neighbour), "{neighbour}");
        assert_ne!(neighbour, point);
    }
}

#[test]
fn the_discrete_encoding_round_trips() {
    let s = nested();
    let cards = s.cardinalities();
    let mut r = rng(13);
    for _ in 0..500 {
        let dna = s.sample(&mut r);
        let choices = s.encode(&dna).unwrap();
        assert_eq!(choices.len(), cards.len());
        assert!(choices.iter().zip(&cards).all(|(c, n)| c < n));
        assert_eq!(s.decode(&choices), dna);
        // Any choices decode to a point of the space.
        let random: Vec<usize> = cards.iter().map(|&n| r.random_range(0..n)).collect();
        let decoded = s.decode(&random);
        assert!(s.admits(&decoded), "{decoded}");
        assert_eq!(s.decode(&s.encode(&decoded).unwrap()), decoded);
    }
}

#[test]
fn bad_definitions_and_points_name_the_path() {
    let err = SymbolicSpace::new(Space::dict([(
        "a",
        Space::list([Space::<&str>::intv(0, 1), Space::oneof([])]),
    )]))
    .unwrap_err();
    assert!(
        err.to_string().contains("$.a[1]: oneof has no options"),
        "{err}"
    );
    let err = SymbolicSpace::new(Space::manyof(3, options(2), true, false)).unwrap_err();
    assert!(err.to_string().contains("3 distinct of 2"), "{err}");
    let err = SymbolicSpace::new(Space::<&str>::floatv(1.0, f64::NAN)).unwrap_err();
    assert!(err.to_string().contains("floatv"), "{err}");

    let s = nested();
    let mut dna = s.sample(&mut rng(14));
    if let Dna::Node(items) = &mut dna {
        items[2] = Dna::Float(7.0);
    }
    let err = s.materialize(&dna).unwrap_err();
    assert_eq!(err.path, "$.lr");
    assert!(err.message.contains("7 outside floatv"), "{err}");
    if let Dna::Node(items) = &mut dna {
        items[0] = Dna::Choice(5, Box::new(Dna::Fixed));
    }
    assert_eq!(s.materialize(&dna).unwrap_err().path, "$.layer");
    let err = s.materialize(&Dna::Int(1)).unwrap_err();
    assert!(
        err.message
            .contains("expected a list or record, found an integer")
    );
}

#[test]
fn constraints_hold_for_samples_mutants_and_neighbours() {
    // Pairs of distinct integers whose sum is even.
    let s = SymbolicSpace::new(Space::<&str>::list([Space::intv(0, 9), Space::intv(0, 9)]))
        .unwrap()
        .constrained(|v| {
            let items = v.as_list().unwrap();
            let (a, b) = (items[0].as_int().unwrap(), items[1].as_int().unwrap());
            a != b && (a + b) % 2 == 0
        });
    let ok = |d: &Dna| s.admits(d);
    let mut r = rng(15);
    let mut point = s.sample(&mut r);
    for _ in 0..500 {
        assert!(ok(&point));
        assert!(s.neighbours(&point).iter().all(ok));
        point = s.mutate(&point, &mut r);
    }
}

/// Fitness: how close the point is to `{layer: dense(dropout 0.2, act c),
/// blocks: [y 2, x], lr 0.1}`, one point for each matching decision.
fn score(s: &SymbolicSpace<&'static str>, dna: &Dna) -> f64 {
    let v = s.materialize(dna).unwrap();
    let layer = v.field("layer").unwrap();
    let mut points = 0.0;
    if layer.field("kind").and_then(Value::as_fixed) == Some(&"dense") {
        points += 1.0;
        points += f64::from(u8::from(
            layer.field("dropout").unwrap().as_float() == Some(0.2),
        ));
        points += f64::from(u8::from(
            layer.field("act").unwrap().as_fixed() == Some(&"c"),
        ));
    }
    let blocks = v.field("blocks").unwrap().as_list().unwrap();
    if let Some(items) = blocks[0].as_list() {
        points += 1.0 + f64::from(u8::from(items[1].as_int() == Some(2)));
    }
    points += f64::from(u8::from(blocks[1].as_fixed() == Some(&"x")));
    points += f64::from(u8::from(v.field("lr").unwrap().as_float() == Some(0.1)));
    points
}

struct Score<'a>(&'a SymbolicSpace<&'static str>);

impl Evaluator<Dna> for Score<'_> {
    fn evaluate(&self, c: &Dna, _: &mut SearchRng) -> Evaluation {
        let f = score(self.0, c);
        Evaluation {
            validation: f,
            test: f,
            cost_s: 1.0,
        }
    }
}

struct ByValue<'a>(&'a SymbolicSpace<&'static str>);

impl CandidateHasher<Dna> for ByValue<'_> {
    fn hash(&self, c: &Dna) -> FunctionalHash {
        // The seed field does not change the function.
        let mut v = self.0.materialize(c).unwrap();
        if let Value::Dict(fields) = &mut v {
            fields.retain(|(k, _)| k != "seed");
        }
        let text = v.to_string();
        FunctionalHash(text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        }))
    }
    fn cost_s(&self) -> f64 {
        0.1
    }
}

#[test]
fn every_algorithm_runs_on_a_symbolic_space_unchanged() {
    let s = nested();
    let evaluator = Score(&s);
    let hasher = ByValue(&s);
    let best = |record: crate::SearchRecord| {
        record
            .best_so_far()
            .last()
            .map(|b| b.validation)
            .unwrap_or(f64::NAN)
    };
    let search = || {
        Search::new(&s, &evaluator, Budget::Candidates(3_000), 3)
            .hasher(&hasher)
            .techniques(crate::Techniques::FEC)
            .unwrap()
    };
    let evolution = EvolutionConfig {
        population_size: 50,
        tournament_size: 10,
        replacement: Replacement::Oldest,
    };
    let optimum = 7.0;
    let re = best(
        search()
            .run(&mut evolution.build().unwrap(), Mode::Serial)
            .unwrap()
            .record,
    );
    let ls = best(
        search()
            .run(
                &mut LocalSearchConfig::DEFAULT.build().unwrap(),
                Mode::Serial,
            )
            .unwrap()
            .record,
    );
    let ppo = best(
        search()
            .run(&mut PpoConfig::DEFAULT.build(&s).unwrap(), Mode::Serial)
            .unwrap()
            .record,
    );
    let mut config = crate::BananasConfig::paper();
    config.steps = 30;
    let short = || {
        Search::new(&s, &evaluator, Budget::Candidates(200), 3)
            .hasher(&hasher)
            .techniques(crate::Techniques::FEC)
            .unwrap()
    };
    let bananas = best(
        short()
            .run(&mut config.build(1).unwrap(), Mode::Serial)
            .unwrap()
            .record,
    );
    assert_eq!((re, ls), (optimum, optimum));
    assert!(ppo >= optimum - 1.0, "{ppo}");
    assert!(bananas >= optimum - 2.0, "{bananas}");
}

proptest! {
    #[test]
    fn samples_mutants_and_decodings_fit_the_space(seed in any::<u64>()) {
        let s = nested();
        let mut r = rng(seed);
        let mut point = s.sample(&mut r);
        for _ in 0..20 {
            prop_assert!(s.admits(&point));
            let child = s.mutate(&point, &mut r);
            prop_assert!(s.admits(&child));
            prop_assert_ne!(&child, &point);
            point = child;
        }
    }
}
