//! Composable symbolic search spaces, after PyGlove: `oneof`, `manyof`, `intv` and
//! `floatv` nested to any depth inside lists and records, with user values at the
//! leaves.
//!
//! One definition ([`Space`]) gives, through [`SymbolicSpace`], everything the
//! algorithms need: uniform sampling and mutation of one decision at a time
//! ([`SearchSpace`]), the discrete encoding that PPO uses ([`DiscreteEncoding`]),
//! a neighbourhood for local search ([`Neighbourhood`]) and a readable printout
//! (`Display`), and a one-hot feature encoding for BANANAS ([`FeatureEncoding`]). A point of the space is its [`Dna`]: the tree of decisions taken,
//! which serde writes and reads and whose layout is pinned by golden vectors, so a
//! point saved by one release means the same in the next. [`SymbolicSpace::materialize`]
//! turns a point into its [`Value`], from which the user builds their own type; the
//! [`Decoded`] adapter runs any evaluator or hasher of that type on points.
//!
//! ```
//! use rand::SeedableRng;
//! use ufh_search::symbolic::{Dna, Space, SymbolicSpace};
//! use ufh_search::{Neighbourhood, SearchRng, SearchSpace};
//!
//! let space = SymbolicSpace::new(Space::dict([
//!     ("op", Space::oneof_values(["conv", "pool"])),
//!     ("width", Space::intv(1, 4)),
//!     ("lr", Space::floatv(0.001, 0.1)),
//! ]))?;
//! assert_eq!(
//!     space.to_string(),
//!     "{op: oneof([conv, pool]), width: intv(1, 4), lr: floatv(0.001, 0.1)}"
//! );
//! let mut rng = SearchRng::seed_from_u64(1);
//! let point = space.sample(&mut rng);
//! let child = space.mutate(&point, &mut rng);
//! assert!(space.admits(&child));
//! assert!(!space.neighbours(&point).is_empty());
//! let saved = serde_json::to_string(&point)?;
//! let back: Dna = serde_json::from_str(&saved)?;
//! assert_eq!(space.materialize(&back)?, space.materialize(&point)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The choices made where PyGlove leaves room:
//! * **Sampling** draws every decision uniformly given those before it: a `oneof`
//!   picks each option with equal probability (not weighted by the size of the
//!   option's own sub-space); a `manyof` is uniform over its admissible pick lists
//!   (ordered tuples, permutations, combinations, or multisets when sorted with
//!   repetition); `intv` is uniform over its integers and `floatv` over its range
//!   (or its grid points when it has a grid).
//! * **Mutation** picks one *mutable* decision of the parent uniformly (one with
//!   another admissible value) and gives it another value, uniformly. A changed
//!   `oneof` option or `manyof` pick brings the new option's own decisions, freshly
//!   sampled: they are new decisions, not changes of old ones.
//! * **Neighbours** are every single-decision change: every other option of a
//!   `oneof` or `manyof` pick (its own decisions at their first values), every
//!   other integer of an `intv` of at most [`SMALL_INT_RANGE`] values (±1 of a
//!   larger one), and one step up and down of a `floatv` (a grid step, or a tenth
//!   of the range when it has no grid).
//! * **The discrete encoding** lists every decision of every branch in a fixed
//!   order (a `oneof`'s choice, then each option's decisions; a `manyof`'s `k`
//!   picks, then for each pick every option's decisions); a choice sequence decodes
//!   by reading the decisions of the taken branches. A distinct `manyof`'s pick `j`
//!   indexes the options not yet taken; a sorted one is sorted after decoding. A
//!   `floatv` without a grid is encoded on [`DEFAULT_FLOAT_GRID`] points.
//! * **Constraints** ([`SymbolicSpace::constrained`]) reject points: sampling
//!   redraws, mutation retries from the parent, neighbours are filtered. A decoded
//!   choice sequence is returned as it is; an evaluator fails invalid points, as
//!   with every other space.

use std::fmt;
use std::sync::Arc;

use rand::Rng;
use ufh_core::FunctionalHash;

use crate::{
    CandidateHasher, DiscreteEncoding, Evaluation, Evaluator, FeatureEncoding, Neighbourhood,
    SearchError, SearchRng, SearchSpace,
};

/// Integer ranges of at most this many values have every other value as a
/// neighbour; larger ones have the values one below and one above.
pub const SMALL_INT_RANGE: u64 = 32;

/// Grid points of a `floatv` without a grid in the discrete encoding.
pub const DEFAULT_FLOAT_GRID: usize = 11;

/// Draws before [`SymbolicSpace::sample`] gives up on a constraint.
const MAX_SAMPLE_DRAWS: usize = 1_000_000;

/// Mutation attempts under a constraint before the parent is returned unchanged.
const MAX_MUTATION_TRIES: usize = 1_000;

/// A composable search space with user values of type `T` at its leaves.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Space<T> {
    /// A fixed value: no decision.
    Fixed(T),
    /// One of the options (PyGlove's `oneof`); at least one.
    OneOf(Vec<Space<T>>),
    /// `k` of the options (PyGlove's `manyof`), as a list.
    ManyOf {
        /// How many are picked.
        k: usize,
        /// The options; at least one.
        options: Vec<Space<T>>,
        /// Whether an option may be picked once only (then `k` ≤ options).
        distinct: bool,
        /// Whether the picks are listed in option order (a set or multiset rather
        /// than a sequence).
        sorted: bool,
    },
    /// An integer in `low..=high` (PyGlove's `intv`).
    Int {
        /// Smallest value.
        low: i64,
        /// Largest value.
        high: i64,
    },
    /// A float in `low..high` (PyGlove's `floatv`), or one of `grid` evenly
    /// spaced points from `low` to `high` inclusive.
    Float {
        /// Lower end.
        low: f64,
        /// Upper end.
        high: f64,
        /// Points of the grid, at least 2; none for a continuous range.
        grid: Option<usize>,
    },
    /// A fixed-length list of sub-spaces.
    List(Vec<Space<T>>),
    /// A record of named sub-spaces.
    Dict(Vec<(String, Space<T>)>),
}

impl<T> Space<T> {
    /// `oneof(options)`.
    pub fn oneof(options: impl IntoIterator<Item = Space<T>>) -> Self {
        Space::OneOf(options.into_iter().collect())
    }

    /// `oneof` over fixed values.
    pub fn oneof_values(values: impl IntoIterator<Item = T>) -> Self {
        Space::OneOf(values.into_iter().map(Space::Fixed).collect())
    }

    /// `manyof(k, options, distinct, sorted)`.
    pub fn manyof(
        k: usize,
        options: impl IntoIterator<Item = Space<T>>,
        distinct: bool,
        sorted: bool,
    ) -> Self {
        Space::ManyOf {
            k,
            options: options.into_iter().collect(),
            distinct,
            sorted,
        }
    }

    /// `intv(low, high)`, both included.
    pub fn intv(low: i64, high: i64) -> Self {
        Space::Int { low, high }
    }

    /// `floatv(low, high)`, continuous.
    pub fn floatv(low: f64, high: f64) -> Self {
        Space::Float {
            low,
            high,
            grid: None,
        }
    }

    /// `floatv(low, high)` on `points` evenly spaced points, both ends included.
    pub fn floatv_grid(low: f64, high: f64, points: usize) -> Self {
        Space::Float {
            low,
            high,
            grid: Some(points),
        }
    }

    /// A record of named sub-spaces.
    pub fn dict<S: Into<String>>(fields: impl IntoIterator<Item = (S, Space<T>)>) -> Self {
        Space::Dict(fields.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A list of sub-spaces.
    pub fn list(items: impl IntoIterator<Item = Space<T>>) -> Self {
        Space::List(items.into_iter().collect())
    }
}

/// A point of a [`Space`]: the tree of decisions taken.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Dna {
    /// A fixed value: nothing decided.
    Fixed,
    /// A `oneof`: the option taken and that option's own decisions.
    Choice(usize, Box<Dna>),
    /// A `manyof`: the options picked, in list order, each with its decisions.
    Picks(Vec<(usize, Dna)>),
    /// An `intv`.
    Int(i64),
    /// A `floatv`.
    Float(f64),
    /// A list or record: its items' decisions in order.
    Node(Vec<Dna>),
}

/// One decision of a [`Dna`], in the flat list of [`Dna::decisions`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// An option of a `oneof`, or one pick of a `manyof`.
    Choice(usize),
    /// An `intv` value.
    Int(i64),
    /// A `floatv` value.
    Float(f64),
}

impl Dna {
    /// Every decision, depth first: a choice before its option's decisions.
    pub fn decisions(&self) -> Vec<Decision> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect(&self, out: &mut Vec<Decision>) {
        match self {
            Dna::Fixed => {}
            Dna::Choice(i, child) => {
                out.push(Decision::Choice(*i));
                child.collect(out);
            }
            Dna::Picks(picks) => {
                for (i, child) in picks {
                    out.push(Decision::Choice(*i));
                    child.collect(out);
                }
            }
            Dna::Int(v) => out.push(Decision::Int(*v)),
            Dna::Float(v) => out.push(Decision::Float(*v)),
            Dna::Node(items) => items.iter().for_each(|d| d.collect(out)),
        }
    }
}

impl fmt::Display for Dna {
    /// The flat decision list, space-separated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for d in self.decisions() {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            match d {
                Decision::Choice(i) => write!(f, "{i}")?,
                Decision::Int(v) => write!(f, "{v}")?,
                Decision::Float(v) => write!(f, "{v:?}")?,
            }
        }
        Ok(())
    }
}

/// The value of a point: what the space's definition says with every decision
/// taken.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Value<T> {
    /// A user value.
    Fixed(T),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A list (also what a `manyof` gives).
    List(Vec<Value<T>>),
    /// A record.
    Dict(Vec<(String, Value<T>)>),
}

impl<T> Value<T> {
    /// The user value, if this is one.
    pub fn as_fixed(&self) -> Option<&T> {
        match self {
            Value::Fixed(v) => Some(v),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The float, if this is one.
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(v) => Some(*v),
            _ => None,
        }
    }

    /// The items, if this is a list.
    pub fn as_list(&self) -> Option<&[Value<T>]> {
        match self {
            Value::List(v) => Some(v),
            _ => None,
        }
    }

    /// The field `name`, if this is a record that has it.
    pub fn field(&self, name: &str) -> Option<&Value<T>> {
        match self {
            Value::Dict(fields) => fields.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

fn write_items<I: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    open: &str,
    items: impl IntoIterator<Item = I>,
    close: &str,
) -> fmt::Result {
    f.write_str(open)?;
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    f.write_str(close)
}

struct Field<'a, V>(&'a str, &'a V);

impl<V: fmt::Display> fmt::Display for Field<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0, self.1)
    }
}

impl<T: fmt::Display> fmt::Display for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Fixed(v) => write!(f, "{v}"),
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v:?}"),
            Value::List(items) => write_items(f, "[", items, "]"),
            Value::Dict(fields) => {
                write_items(f, "{", fields.iter().map(|(k, v)| Field(k, v)), "}")
            }
        }
    }
}

impl<T: fmt::Display> fmt::Display for Space<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Space::Fixed(v) => write!(f, "{v}"),
            Space::OneOf(options) => write_items(f, "oneof([", options, "])"),
            Space::ManyOf {
                k,
                options,
                distinct,
                sorted,
            } => {
                write!(f, "manyof({k}, ")?;
                write_items(f, "[", options, "]")?;
                write!(f, ", distinct={distinct}, sorted={sorted})")
            }
            Space::Int { low, high } => write!(f, "intv({low}, {high})"),
            Space::Float {
                low,
                high,
                grid: None,
            } => write!(f, "floatv({low:?}, {high:?})"),
            Space::Float {
                low,
                high,
                grid: Some(g),
            } => write!(f, "floatv({low:?}, {high:?}, grid={g})"),
            Space::List(items) => write_items(f, "[", items, "]"),
            Space::Dict(fields) => {
                write_items(f, "{", fields.iter().map(|(k, v)| Field(k, v)), "}")
            }
        }
    }
}

/// A point that does not fit its space (a DNA read from a file, or built by
/// hand): the path to the decision and what is wrong there.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("DNA does not fit the space at {path}: {message}")]
pub struct DnaError {
    /// Where in the space, as `field`, `[i]` and `<option>` steps (`$` is the root).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

type Constraint<T> = Arc<dyn Fn(&Value<T>) -> bool + Send + Sync>;

/// A checked [`Space`] as a search space whose candidates are [`Dna`]s.
#[derive(Clone)]
pub struct SymbolicSpace<T> {
    space: Space<T>,
    constraint: Option<Constraint<T>>,
}

impl<T: fmt::Debug> fmt::Debug for SymbolicSpace<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SymbolicSpace")
            .field("space", &self.space)
            .field("constrained", &self.constraint.is_some())
            .finish()
    }
}

impl<T: fmt::Display> fmt::Display for SymbolicSpace<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.space)?;
        if self.constraint.is_some() {
            f.write_str(" where <constraint>")?;
        }
        Ok(())
    }
}

fn check<T>(space: &Space<T>, path: &str) -> Result<(), SearchError> {
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
fn distinct_draw(n: usize, k: usize, rng: &mut SearchRng) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = rng.random_range(i..n);
        all.swap(i, j);
    }
    all.truncate(k);
    all
}

/// The picks of a `manyof`, uniform over its admissible lists.
fn sample_picks(
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

fn sample_dna<T>(space: &Space<T>, rng: &mut SearchRng) -> Dna {
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
fn first_dna<T>(space: &Space<T>) -> Dna {
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

fn grid_point(low: f64, high: f64, points: usize, i: usize) -> f64 {
    if i + 1 == points {
        high
    } else {
        low + (high - low) * i as f64 / (points - 1) as f64
    }
}

/// Options a pick of a `manyof` may change to: every other option, less (when
/// distinct) those the other picks hold.
fn pick_alternatives(picks: &[(usize, Dna)], slot: usize, n: usize, distinct: bool) -> Vec<usize> {
    let current = picks[slot].0;
    (0..n)
        .filter(|&i| i != current && !(distinct && picks.iter().any(|(p, _)| *p == i)))
        .collect()
}

fn sort_picks(picks: &mut [(usize, Dna)]) {
    picks.sort_by_key(|(i, _)| *i);
}

/// The mutable decisions of `dna` under `space`: those with another admissible
/// value.
fn mutable_sites<T>(space: &Space<T>, dna: &Dna) -> usize {
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
fn mutate_site<T>(
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

fn nearest_grid_index(low: f64, high: f64, points: usize, v: f64) -> usize {
    let t = if high > low {
        (v - low) / (high - low)
    } else {
        0.0
    };
    ((t * (points - 1) as f64).round().max(0.0) as usize).min(points - 1)
}

/// Every single-decision change of `dna`, pushed as whole points: `rebuild` wraps
/// a changed sub-point into the whole point.
fn neighbours_of<T>(space: &Space<T>, dna: &Dna, rebuild: &mut dyn FnMut(Dna)) {
    match (space, dna) {
        (Space::OneOf(options), Dna::Choice(i, child)) => {
            for j in (0..options.len()).filter(|j| j != i) {
                rebuild(Dna::Choice(j, Box::new(first_dna(&options[j]))));
            }
            neighbours_of(&options[*i], child, &mut |c| {
                rebuild(Dna::Choice(*i, Box::new(c)))
            });
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
                for j in pick_alternatives(picks, slot, options.len(), *distinct) {
                    let mut changed = picks.clone();
                    changed[slot] = (j, first_dna(&options[j]));
                    if *sorted {
                        sort_picks(&mut changed);
                    }
                    rebuild(Dna::Picks(changed));
                }
                let (i, child) = &picks[slot];
                neighbours_of(&options[*i], child, &mut |c| {
                    let mut changed = picks.clone();
                    changed[slot].1 = c;
                    rebuild(Dna::Picks(changed));
                });
            }
        }
        (Space::Int { low, high }, Dna::Int(v)) => {
            let size = high.abs_diff(*low).saturating_add(1);
            if size <= SMALL_INT_RANGE {
                for x in (*low..=*high).filter(|x| x != v) {
                    rebuild(Dna::Int(x));
                }
            } else {
                for x in [v.checked_sub(1), v.checked_add(1)].into_iter().flatten() {
                    if (*low..=*high).contains(&x) {
                        rebuild(Dna::Int(x));
                    }
                }
            }
        }
        (Space::Float { low, high, grid }, Dna::Float(v)) if high > low => {
            let candidates = match grid {
                Some(g) => {
                    let i = nearest_grid_index(*low, *high, *g, *v);
                    [i.checked_sub(1), Some(i + 1).filter(|&j| j < *g)]
                        .map(|j| j.map(|j| grid_point(*low, *high, *g, j)))
                }
                None => {
                    let step = (high - low) / 10.0;
                    [
                        Some((v - step).max(*low)),
                        Some(v + step).filter(|x| x < high),
                    ]
                }
            };
            for x in candidates.into_iter().flatten() {
                if x != *v {
                    rebuild(Dna::Float(x));
                }
            }
        }
        (Space::List(items), Dna::Node(children)) => {
            node_neighbours(items.iter(), children, rebuild);
        }
        (Space::Dict(fields), Dna::Node(children)) => {
            node_neighbours(fields.iter().map(|(_, s)| s), children, rebuild);
        }
        _ => {}
    }
}

fn node_neighbours<'s, T: 's>(
    items: impl Iterator<Item = &'s Space<T>>,
    children: &[Dna],
    rebuild: &mut dyn FnMut(Dna),
) {
    for (k, (s, d)) in items.zip(children).enumerate() {
        neighbours_of(s, d, &mut |c| {
            let mut changed = children.to_vec();
            changed[k] = c;
            rebuild(Dna::Node(changed));
        });
    }
}

fn materialize_at<T: Clone>(
    space: &Space<T>,
    dna: &Dna,
    path: &mut String,
) -> Result<Value<T>, DnaError> {
    let error = |path: &String, message: String| DnaError {
        path: if path.is_empty() {
            "$".into()
        } else {
            format!("${path}")
        },
        message,
    };
    let kind = |d: &Dna| match d {
        Dna::Fixed => "a fixed value",
        Dna::Choice(..) => "a oneof choice",
        Dna::Picks(_) => "manyof picks",
        Dna::Int(_) => "an integer",
        Dna::Float(_) => "a float",
        Dna::Node(_) => "a list or record",
    };
    match (space, dna) {
        (Space::Fixed(v), Dna::Fixed) => Ok(Value::Fixed(v.clone())),
        (Space::OneOf(options), Dna::Choice(i, child)) => {
            let option = options.get(*i).ok_or_else(|| {
                error(path, format!("option {i} of a oneof of {}", options.len()))
            })?;
            let len = path.len();
            path.push_str(&format!("<{i}>"));
            let value = materialize_at(option, child, path)?;
            path.truncate(len);
            Ok(value)
        }
        (
            Space::ManyOf {
                k,
                options,
                distinct,
                sorted,
            },
            Dna::Picks(picks),
        ) => {
            if picks.len() != *k {
                return Err(error(
                    path,
                    format!("{} picks of a manyof of {k}", picks.len()),
                ));
            }
            let mut values = Vec::with_capacity(*k);
            for (slot, (i, child)) in picks.iter().enumerate() {
                let option = options.get(*i).ok_or_else(|| {
                    error(
                        path,
                        format!("pick {slot} is option {i} of {}", options.len()),
                    )
                })?;
                if *distinct && picks[..slot].iter().any(|(p, _)| p == i) {
                    return Err(error(
                        path,
                        format!("option {i} picked twice in a distinct manyof"),
                    ));
                }
                if *sorted && slot > 0 && picks[slot - 1].0 > *i {
                    return Err(error(
                        path,
                        format!("picks out of order in a sorted manyof at pick {slot}"),
                    ));
                }
                let len = path.len();
                path.push_str(&format!("[{slot}]<{i}>"));
                values.push(materialize_at(option, child, path)?);
                path.truncate(len);
            }
            Ok(Value::List(values))
        }
        (Space::Int { low, high }, Dna::Int(v)) => {
            if !(*low..=*high).contains(v) {
                return Err(error(path, format!("{v} outside intv({low}, {high})")));
            }
            Ok(Value::Int(*v))
        }
        (Space::Float { low, high, .. }, Dna::Float(v)) => {
            if !(v.is_finite() && *low <= *v && *v <= *high) {
                return Err(error(path, format!("{v} outside floatv({low}, {high})")));
            }
            Ok(Value::Float(*v))
        }
        (Space::List(items), Dna::Node(children)) => {
            if items.len() != children.len() {
                return Err(error(
                    path,
                    format!("{} items for a list of {}", children.len(), items.len()),
                ));
            }
            let mut values = Vec::with_capacity(items.len());
            for (k, (s, d)) in items.iter().zip(children).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{k}]"));
                values.push(materialize_at(s, d, path)?);
                path.truncate(len);
            }
            Ok(Value::List(values))
        }
        (Space::Dict(fields), Dna::Node(children)) => {
            if fields.len() != children.len() {
                return Err(error(
                    path,
                    format!(
                        "{} items for a record of {} fields",
                        children.len(),
                        fields.len()
                    ),
                ));
            }
            let mut values = Vec::with_capacity(fields.len());
            for ((name, s), d) in fields.iter().zip(children) {
                let len = path.len();
                path.push('.');
                path.push_str(name);
                values.push((name.clone(), materialize_at(s, d, path)?));
                path.truncate(len);
            }
            Ok(Value::Dict(values))
        }
        (space, dna) => {
            let expected = match space {
                Space::Fixed(_) => "a fixed value",
                Space::OneOf(_) => "a oneof choice",
                Space::ManyOf { .. } => "manyof picks",
                Space::Int { .. } => "an integer",
                Space::Float { .. } => "a float",
                Space::List(_) | Space::Dict(_) => "a list or record",
            };
            Err(error(
                path,
                format!("expected {expected}, found {}", kind(dna)),
            ))
        }
    }
}

fn layout<T>(space: &Space<T>, out: &mut Vec<usize>) {
    match space {
        Space::Fixed(_) => {}
        Space::OneOf(options) => {
            out.push(options.len());
            options.iter().for_each(|o| layout(o, out));
        }
        Space::ManyOf {
            k,
            options,
            distinct,
            ..
        } => {
            let n = options.len();
            out.extend((0..*k).map(|j| if *distinct { n - j } else { n }));
            for _ in 0..*k {
                options.iter().for_each(|o| layout(o, out));
            }
        }
        Space::Int { low, high } => {
            out.push(
                usize::try_from(high.abs_diff(*low)).map_or(usize::MAX, |d| d.saturating_add(1)),
            );
        }
        Space::Float { grid, .. } => out.push(grid.unwrap_or(DEFAULT_FLOAT_GRID)),
        Space::List(items) => items.iter().for_each(|s| layout(s, out)),
        Space::Dict(fields) => fields.iter().for_each(|(_, s)| layout(s, out)),
    }
}

/// Reads decisions from `choices` at `cursor` (each reduced below its
/// cardinality; missing ones read as 0).
fn decode_at<T>(space: &Space<T>, choices: &[usize], cursor: &mut usize) -> Dna {
    let mut next = |cardinality: usize| {
        let c = choices.get(*cursor).copied().unwrap_or(0) % cardinality.max(1);
        *cursor += 1;
        c
    };
    match space {
        Space::Fixed(_) => Dna::Fixed,
        Space::OneOf(options) => {
            let c = next(options.len());
            let mut taken = Dna::Fixed;
            for (i, o) in options.iter().enumerate() {
                let d = decode_at(o, choices, cursor);
                if i == c {
                    taken = d;
                }
            }
            Dna::Choice(c, Box::new(taken))
        }
        Space::ManyOf {
            k,
            options,
            distinct,
            sorted,
        } => {
            let n = options.len();
            let mut remaining: Vec<usize> = (0..n).collect();
            let indices: Vec<usize> = (0..*k)
                .map(|j| {
                    if *distinct {
                        remaining.remove(next(n - j))
                    } else {
                        next(n)
                    }
                })
                .collect();
            let mut picks: Vec<(usize, Dna)> = Vec::with_capacity(*k);
            for &index in &indices {
                let mut taken = Dna::Fixed;
                for (i, o) in options.iter().enumerate() {
                    let d = decode_at(o, choices, cursor);
                    if i == index {
                        taken = d;
                    }
                }
                picks.push((index, taken));
            }
            if *sorted {
                sort_picks(&mut picks);
            }
            Dna::Picks(picks)
        }
        Space::Int { low, high } => {
            let size =
                usize::try_from(high.abs_diff(*low)).map_or(usize::MAX, |d| d.saturating_add(1));
            Dna::Int(low.saturating_add(next(size) as i64))
        }
        Space::Float { low, high, grid } => {
            let g = grid.unwrap_or(DEFAULT_FLOAT_GRID);
            Dna::Float(grid_point(*low, *high, g, next(g)))
        }
        Space::List(items) => Dna::Node(
            items
                .iter()
                .map(|s| decode_at(s, choices, cursor))
                .collect(),
        ),
        Space::Dict(fields) => Dna::Node(
            fields
                .iter()
                .map(|(_, s)| decode_at(s, choices, cursor))
                .collect(),
        ),
    }
}

fn layout_len<T>(space: &Space<T>) -> usize {
    let mut out = Vec::new();
    layout(space, &mut out);
    out.len()
}

/// Writes the choices of a point that fits `space` (checked by the caller):
/// untaken branches read as zeros.
fn encode_at<T>(space: &Space<T>, dna: &Dna, out: &mut Vec<usize>) {
    match (space, dna) {
        (Space::OneOf(options), Dna::Choice(c, child)) => {
            out.push(*c);
            for (i, o) in options.iter().enumerate() {
                if i == *c {
                    encode_at(o, child, out);
                } else {
                    out.extend(std::iter::repeat_n(0, layout_len(o)));
                }
            }
        }
        (
            Space::ManyOf {
                options, distinct, ..
            },
            Dna::Picks(picks),
        ) => {
            let mut remaining: Vec<usize> = (0..options.len()).collect();
            for (index, _) in picks {
                if *distinct {
                    let at = remaining
                        .iter()
                        .position(|r| r == index)
                        .expect("a fitting distinct manyof picks each option once");
                    remaining.remove(at);
                    out.push(at);
                } else {
                    out.push(*index);
                }
            }
            for (index, child) in picks {
                for (i, o) in options.iter().enumerate() {
                    if i == *index {
                        encode_at(o, child, out);
                    } else {
                        out.extend(std::iter::repeat_n(0, layout_len(o)));
                    }
                }
            }
        }
        (Space::Int { low, .. }, Dna::Int(v)) => {
            out.push(usize::try_from(v.abs_diff(*low)).unwrap_or(usize::MAX));
        }
        (Space::Float { low, high, grid }, Dna::Float(v)) => {
            out.push(nearest_grid_index(
                *low,
                *high,
                grid.unwrap_or(DEFAULT_FLOAT_GRID),
                *v,
            ));
        }
        (Space::List(items), Dna::Node(children)) => {
            for (s, d) in items.iter().zip(children) {
                encode_at(s, d, out);
            }
        }
        (Space::Dict(fields), Dna::Node(children)) => {
            for ((_, s), d) in fields.iter().zip(children) {
                encode_at(s, d, out);
            }
        }
        _ => {}
    }
}

impl<T: Clone> SymbolicSpace<T> {
    /// Checks `space` (non-empty choices and ranges, distinct picks that fit,
    /// unique field names); the error names the path to what is wrong.
    pub fn new(space: Space<T>) -> Result<Self, SearchError> {
        check(&space, "$")?;
        Ok(Self {
            space,
            constraint: None,
        })
    }

    /// Keeps only points whose value satisfies `constraint`.
    pub fn constrained(
        mut self,
        constraint: impl Fn(&Value<T>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.constraint = Some(Arc::new(constraint));
        self
    }

    /// The definition.
    pub fn space(&self) -> &Space<T> {
        &self.space
    }

    /// The value of `dna`, or where and why it does not fit the space.
    pub fn materialize(&self, dna: &Dna) -> Result<Value<T>, DnaError> {
        materialize_at(&self.space, dna, &mut String::new())
    }

    /// Whether `dna` fits the space and satisfies its constraint.
    pub fn admits(&self, dna: &Dna) -> bool {
        self.materialize(dna)
            .is_ok_and(|v| self.constraint.as_ref().is_none_or(|c| c(&v)))
    }

    /// The choice sequence of `dna` in the discrete encoding, the inverse of
    /// [`DiscreteEncoding::decode`]: `decode(encode(d)) == d` for every point whose
    /// floats lie on their grids (a `floatv` without one is rounded to the nearest
    /// of [`DEFAULT_FLOAT_GRID`] points).
    pub fn encode(&self, dna: &Dna) -> Result<Vec<usize>, DnaError> {
        self.materialize(dna)?;
        let mut out = Vec::new();
        encode_at(&self.space, dna, &mut out);
        Ok(out)
    }

    fn satisfies(&self, dna: &Dna) -> bool {
        match &self.constraint {
            None => true,
            Some(c) => self.materialize(dna).is_ok_and(|v| c(&v)),
        }
    }
}

impl<T: Clone> SearchSpace for SymbolicSpace<T> {
    type Candidate = Dna;

    /// A uniform draw (see the module docs), redrawn until the constraint holds.
    ///
    /// # Panics
    /// If a million draws all break the constraint.
    fn sample(&self, rng: &mut SearchRng) -> Dna {
        for _ in 0..MAX_SAMPLE_DRAWS {
            let dna = sample_dna(&self.space, rng);
            if self.satisfies(&dna) {
                return dna;
            }
        }
        panic!("no point of the symbolic space met its constraint in {MAX_SAMPLE_DRAWS} draws")
    }

    /// One mutable decision, drawn uniformly, changed to another admissible value
    /// uniformly; under a constraint, retried from the parent (the parent itself
    /// after 1,000 failures, or when nothing is mutable).
    fn mutate(&self, parent: &Dna, rng: &mut SearchRng) -> Dna {
        let sites = mutable_sites(&self.space, parent);
        if sites == 0 {
            return parent.clone();
        }
        for _ in 0..MAX_MUTATION_TRIES {
            let mut child = parent.clone();
            let mut target = rng.random_range(0..sites);
            mutate_site(&self.space, &mut child, &mut target, rng);
            if self.satisfies(&child) {
                return child;
            }
        }
        parent.clone()
    }
}

impl<T: Clone> Neighbourhood for SymbolicSpace<T> {
    /// Every single-decision change (see the module docs), depth first, without
    /// repeats, those that break the constraint left out.
    fn neighbours(&self, candidate: &Dna) -> Vec<Dna> {
        let mut out: Vec<Dna> = Vec::new();
        neighbours_of(&self.space, candidate, &mut |d| {
            if !out.contains(&d) && d != *candidate {
                out.push(d);
            }
        });
        out.retain(|d| self.satisfies(d));
        out
    }
}

impl<T: Clone> DiscreteEncoding for SymbolicSpace<T> {
    /// Every decision of every branch (see the module docs).
    fn cardinalities(&self) -> Vec<usize> {
        let mut out = Vec::new();
        layout(&self.space, &mut out);
        out
    }

    /// The point the choices describe (the constraint is not applied: an
    /// evaluator fails points it cannot use).
    fn decode(&self, choices: &[usize]) -> Dna {
        decode_at(&self.space, choices, &mut 0)
    }
}

impl<T: Clone> FeatureEncoding for SymbolicSpace<T> {
    /// One-hot over every decision of the discrete encoding.
    fn feature_len(&self) -> usize {
        self.cardinalities()
            .iter()
            .fold(0usize, |total, &n| total.saturating_add(n))
    }

    /// Writes the one-hot encoding of `candidate`; zeros if it does not fit.
    fn encode(&self, candidate: &Dna, out: &mut [f64]) {
        out.fill(0.0);
        if let Ok(choices) = SymbolicSpace::encode(self, candidate) {
            let mut offset = 0;
            for (c, n) in choices.iter().zip(self.cardinalities()) {
                out[offset + c] = 1.0;
                offset += n;
            }
        }
    }
}

/// Runs an evaluator or a hasher of `C` on the points of a symbolic space, through
/// `decode` (a point to the user's type).
#[derive(Debug, Clone, Copy)]
pub struct Decoded<F, X> {
    /// From a point to the user's candidate.
    pub decode: F,
    /// The evaluator or hasher of the user's candidates.
    pub inner: X,
}

impl<C, F: Fn(&Dna) -> C, E: Evaluator<C>> Evaluator<Dna> for Decoded<F, E> {
    fn evaluate(&self, candidate: &Dna, rng: &mut SearchRng) -> Evaluation {
        self.inner.evaluate(&(self.decode)(candidate), rng)
    }

    fn cost_unit(&self) -> crate::CostUnit {
        self.inner.cost_unit()
    }
}

impl<C, F: Fn(&Dna) -> C, H: CandidateHasher<C>> CandidateHasher<Dna> for Decoded<F, H> {
    fn hash(&self, candidate: &Dna) -> FunctionalHash {
        self.inner.hash(&(self.decode)(candidate))
    }

    fn cost_s(&self) -> f64 {
        self.inner.cost_s()
    }
}

#[cfg(test)]
mod tests {
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

    fn histogram(
        s: &SymbolicSpace<&'static str>,
        draws: usize,
        seed: u64,
    ) -> BTreeMap<String, usize> {
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
}
