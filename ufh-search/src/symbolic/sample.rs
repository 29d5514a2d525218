//! Checking a space, and drawing and mutating its points: recursions over the
//! space and a point together.

use super::*;

pub(super) fn check<T>(space: &Space<T>, path: &str) -> Result<(), SearchError> {
    let bad = |message: String| Err(SearchError::InvalidConfig(format!("{path}: {message}")));
    match space {
        Space::Fixed(_) => Ok(()),
        Space::OneOf(options) => {
            if options.is_empty() {
                return bad("oneof has no options".into());
            }
            for (i, o) in options.iter().enumerate() {
                check(o, &format!("{path}<{i}>"))?;
            }
            Ok(())
        }
        Space::ManyOf {
            k,
            options,
            distinct,
            ..
        } => {
            if options.is_empty() {
                return bad("manyof has no options".into());
            }
            if *distinct && *k > options.len() {
                return bad(format!(
                    "manyof picks {k} distinct of {} options",
                    options.len()
                ));
            }
            for (i, o) in options.iter().enumerate() {
                check(o, &format!("{path}<{i}>"))?;
            }
            Ok(())
        }
        Space::Int { low, high } => {
            if low > high {
                return bad(format!("intv({low}, {high}) is empty"));
            }
            Ok(())
        }
        Space::Float { low, high, grid } => {
            if !low.is_finite() || !high.is_finite() || low > high {
                return bad(format!("floatv({low}, {high}) is not a finite range"));
            }
            if let Some(g) = grid
                && *g < 2
            {
                return bad(format!("floatv grid of {g} points (at least 2)"));
            }
            Ok(())
        }
        Space::List(items) => {
            for (i, s) in items.iter().enumerate() {
                check(s, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        Space::Dict(fields) => {
            for (i, (name, s)) in fields.iter().enumerate() {
                if fields[..i].iter().any(|(other, _)| other == name) {
                    return bad(format!("field {name:?} appears twice"));
                }
                check(s, &format!("{path}.{name}"))?;
            }
            Ok(())
        }
    }
}

/// A uniform draw of `k` distinct values of `0..n`, in draw order.
pub(super) fn distinct_draw(n: usize, k: usize, rng: &mut SearchRng) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = rng.random_range(i..n);
        all.swap(i, j);
    }
    all.truncate(k);
    all
}

/// The picks of a `manyof`, uniform over its admissible lists.
pub(super) fn sample_picks(
    n: usize,
    k: usize,
    distinct: bool,
    sorted: bool,
    rng: &mut SearchRng,
) -> Vec<usize> {
    match (distinct, sorted) {
        (true, false) => distinct_draw(n, k, rng),
        (true, true) => {
            let mut picks = distinct_draw(n, k, rng);
            picks.sort_unstable();
            picks
        }
        (false, false) => (0..k).map(|_| rng.random_range(0..n)).collect(),
        // Multisets by stars and bars: a sorted k-subset c of 0..n+k-1 maps to
        // the multiset c_i - i, one to one.
        (false, true) => {
            let mut c = distinct_draw(n + k - 1, k, rng);
            c.sort_unstable();
            c.iter().enumerate().map(|(i, &c)| c - i).collect()
        }
    }
}

pub(super) fn sample_dna<T>(space: &Space<T>, rng: &mut SearchRng) -> Dna {
    match space {
        Space::Fixed(_) => Dna::Fixed,
        Space::OneOf(options) => {
            let i = rng.random_range(0..options.len());
            Dna::Choice(i, Box::new(sample_dna(&options[i], rng)))
        }
        Space::ManyOf {
            k,
            options,
            distinct,
            sorted,
        } => {
            let picks = sample_picks(options.len(), *k, *distinct, *sorted, rng);
            Dna::Picks(
                picks
                    .into_iter()
                    .map(|i| (i, sample_dna(&options[i], rng)))
                    .collect(),
            )
        }
        Space::Int { low, high } => Dna::Int(rng.random_range(*low..=*high)),
        Space::Float { low, high, grid } => Dna::Float(match grid {
            Some(g) => grid_point(*low, *high, *g, rng.random_range(0..*g)),
            None if low < high => rng.random_range(*low..*high),
            None => *low,
        }),
        Space::List(items) => Dna::Node(items.iter().map(|s| sample_dna(s, rng)).collect()),
        Space::Dict(fields) => Dna::Node(fields.iter().map(|(_, s)| sample_dna(s, rng)).collect()),
    }
}

/// The point of a sub-space with every decision at its first value: option 0, the
/// first admissible picks, the low end of every range.
pub(super) fn first_dna<T>(space: &Space<T>) -> Dna {
    match space {
        Space::Fixed(_) => Dna::Fixed,
        Space::OneOf(options) => Dna::Choice(0, Box::new(first_dna(&options[0]))),
        Space::ManyOf {
            k,
            options,
            distinct,
            ..
        } => Dna::Picks(
            (0..*k)
                .map(|j| {
                    let i = if *distinct { j } else { 0 };
                    (i, first_dna(&options[i]))
                })
                .collect(),
        ),
        Space::Int { low, .. } => Dna::Int(*low),
        Space::Float { low, .. } => Dna::Float(*low),
        Space::List(items) => Dna::Node(items.iter().map(first_dna).collect()),
        Space::Dict(fields) => Dna::Node(fields.iter().map(|(_, s)| first_dna(s)).collect()),
    }
}

pub(super) fn grid_point(low: f64, high: f64, points: usize, i: usize) -> f64 {
    if i + 1 == points {
        high
    } else {
        low + (high - low) * i as f64 / (points - 1) as f64
    }
}

/// Options a pick of a `manyof` may change to: every other option, less (when
/// distinct) those the other picks hold.
pub(super) fn pick_alternatives(
    picks: &[(usize, Dna)],
    slot: usize,
    n: usize,
    distinct: bool,
) -> Vec<usize> {
    let current = picks[slot].0;
    (0..n)
        .filter(|&i| i != current && !(distinct && picks.iter().any(|(p, _)| *p == i)))
        .collect()
}

pub(super) fn sort_picks(picks: &mut [(usize, Dna)]) {
    picks.sort_by_key(|(i, _)| *i);
}

/// The mutable decisions of `dna` under `space`: those with another admissible
/// value.
pub(super) fn mutable_sites<T>(space: &Space<T>, dna: &Dna) -> usize {
    match (space, dna) {
        (Space::OneOf(options), Dna::Choice(i, child)) => {
            usize::from(options.len() > 1) + mutable_sites(&options[*i], child)
        }
        (
            Space::ManyOf {
                options, distinct, ..
            },
            Dna::Picks(picks),
        ) => picks
            .iter()
            .enumerate()
            .map(|(slot, (i, child))| {
                usize::from(!pick_alternatives(picks, slot, options.len(), *distinct).is_empty())
                    + mutable_sites(&options[*i], child)
            })
            .sum(),
        (Space::Int { low, high }, Dna::Int(_)) => usize::from(high > low),
        (Space::Float { low, high, .. }, Dna::Float(_)) => usize::from(high > low),
        (Space::List(items), Dna::Node(children)) => items
            .iter()
            .zip(children)
            .map(|(s, d)| mutable_sites(s, d))
            .sum(),
        (Space::Dict(fields), Dna::Node(children)) => fields
            .iter()
            .zip(children)
            .map(|((_, s), d)| mutable_sites(s, d))
            .sum(),
        _ => 0,
    }
}

/// Changes mutable decision number `target` (counted as [`mutable_sites`] counts)
/// to another admissible value, uniformly; returns whether it was reached.
pub(super) fn mutate_site<T>(
    space: &Space<T>,
    dna: &mut Dna,
    target: &mut usize,
    rng: &mut SearchRng,
) -> bool {
    match (space, dna) {
        (Space::OneOf(options), Dna::Choice(i, child)) => {
            if options.len() > 1 {
                if *target == 0 {
                    let other = rng.random_range(0..options.len() - 1);
                    *i = if other >= *i { other + 1 } else { other };
                    **child = sample_dna(&options[*i], rng);
                    return true;
                }
                *target -= 1;
            }
            mutate_site(&options[*i], child, target, rng)
        }
        (
            Space::ManyOf {
                options,
                distinct,
                sorted,
                ..
            },
            Dna::Picks(picks),
        ) => {
            for slot in 0..picks.len() {
                let alternatives = pick_alternatives(picks, slot, options.len(), *distinct);
                if !alternatives.is_empty() {
                    if *target == 0 {
                        let i = alternatives[rng.random_range(0..alternatives.len())];
                        picks[slot] = (i, sample_dna(&options[i], rng));
                        if *sorted {
                            sort_picks(picks);
                        }
                        return true;
                    }
                    *target -= 1;
                }
                let (i, child) = &mut picks[slot];
                if mutate_site(&options[*i], child, target, rng) {
                    return true;
                }
            }
            false
        }
        (Space::Int { low, high }, Dna::Int(v)) => {
            if high > low {
                if *target == 0 {
                    // Another value of low..=high, uniformly: draw from a range one
                    // shorter and step over the current value.
                    let other = rng.random_range(*low..*high);
                    *v = if other >= *v { other + 1 } else { other };
                    return true;
                }
                *target -= 1;
            }
            false
        }
        (Space::Float { low, high, grid }, Dna::Float(v)) => {
            if high > low {
                if *target == 0 {
                    *v = match grid {
                        Some(g) => {
                            let current = nearest_grid_index(*low, *high, *g, *v);
                            let other = rng.random_range(0..*g - 1);
                            let i = if other >= current { other + 1 } else { other };
                            grid_point(*low, *high, *g, i)
                        }
                        None => loop {
                            let x = rng.random_range(*low..*high);
                            if x != *v {
                                break x;
                            }
                        },
                    };
                    return true;
                }
                *target -= 1;
            }
            false
        }
        (Space::List(items), Dna::Node(children)) => items
            .iter()
            .zip(children)
            .any(|(s, d)| mutate_site(s, d, target, rng)),
        (Space::Dict(fields), Dna::Node(children)) => fields
            .iter()
            .zip(children)
            .any(|((_, s), d)| mutate_site(s, d, target, rng)),
        _ => false,
    }
}

pub(super) fn nearest_grid_index(low: f64, high: f64, points: usize, v: f64) -> usize {
    let t = if high > low {
        (v - low) / (high - low)
    } else {
        0.0
    };
    ((t * (points - 1) as f64).round().max(0.0) as usize).min(points - 1)
}
