//! A point's neighbours, its materialised value, and its discrete encoding and
//! decoding: recursions over the space and a point together.

use super::*;

/// Every single-decision change of `dna`, pushed as whole points: `rebuild` wraps
/// a changed sub-point into the whole point.
pub(super) fn neighbours_of<T>(space: &Space<T>, dna: &Dna, rebuild: &mut dyn FnMut(Dna)) {
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

pub(super) fn node_neighbours<'s, T: 's>(
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

pub(super) fn materialize_at<T: Clone>(
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

pub(super) fn layout<T>(space: &Space<T>, out: &mut Vec<usize>) {
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
pub(super) fn decode_at<T>(space: &Space<T>, choices: &[usize], cursor: &mut usize) -> Dna {
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

pub(super) fn layout_len<T>(space: &Space<T>) -> usize {
    let mut out = Vec::new();
    layout(space, &mut out);
    out.len()
}

/// Writes the choices of a point that fits `space` (checked by the caller):
/// untaken branches read as zeros.
pub(super) fn encode_at<T>(space: &Space<T>, dna: &Dna, out: &mut Vec<usize>) {
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
