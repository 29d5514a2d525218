//! The values of a symbolic space: the space itself, its points (DNA) and the
//! values they materialise to, with their printouts.

use super::*;

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

pub(super) fn write_items<I: fmt::Display>(
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

pub(super) struct Field<'a, V>(&'a str, &'a V);

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
