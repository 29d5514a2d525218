//! The latency model: a per-layer lookup table, measured once and shipped, as
//! MnasNet-style and FBNet-style searches predict latency, so that the reward
//! reproduces on any machine.
//!
//! A network's latency is the sum of its layers' entries (the stem, every layer
//! of every block, the head). An entry is the median over repeated runs of one
//! layer's inference-mode forward pass on a batch of 32 images, divided by 32:
//! microseconds per image, on the machine that wrote the table
//! (`cargo xtask mnas latency`; the shipped `data/mnas_latency.csv` was measured
//! on ufh's 2-core development machine, one thread).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Instant;

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::network::{STEM_KEY, build_unit, layer_key};
use super::{
    Architecture, BLOCKS, BlockSpec, EXPANSIONS, FILTER_QUARTERS, KERNELS, Op, STEM_FILTERS,
    STRIDES,
};
use super::{BASE_FILTERS, BASE_REPEATS};
use crate::digits::N_CLASSES;
use crate::nn::layers::{Classifier, Tensor};
use crate::nn::mobile::out_side;

/// What determines one layer's latency: everything of its block that the layer
/// computes (an expansion outside MBConv, a gate without SE and a skip that
/// cannot apply are not part of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayerKey {
    /// Operation.
    pub op: Op,
    /// Kernel side.
    pub kernel: usize,
    /// Expansion (1 outside MBConv).
    pub expansion: usize,
    /// Stride.
    pub stride: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Input side.
    pub side: usize,
    /// The SE branch: `None`, or whether its gate is the hard sigmoid.
    pub squeeze_excite: Option<bool>,
    /// Whether the input is added to the output.
    pub residual: bool,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Conv => "conv",
            Op::Depthwise => "sep",
            Op::MbConv => "mbconv",
        }
    }

    fn parse(name: &str) -> Option<Op> {
        [Op::Conv, Op::Depthwise, Op::MbConv]
            .into_iter()
            .find(|op| op.name() == name)
    }
}

impl fmt::Display for LayerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let se = match self.squeeze_excite {
            None => "none",
            Some(false) => "sigmoid",
            Some(true) => "hard",
        };
        write!(
            f,
            "layer,{},{},{},{},{},{},{},{se},{}",
            self.op.name(),
            self.kernel,
            self.expansion,
            self.stride,
            self.in_channels,
            self.out_channels,
            self.side,
            u8::from(self.residual)
        )
    }
}

/// A bad latency table, or an architecture it has no entry for.
#[derive(Debug, thiserror::Error)]
pub enum LatencyError {
    /// A line that does not parse.
    #[error("{source_name} line {line}: {what} (the line: {text:?})")]
    Parse {
        /// The table's name.
        source_name: String,
        /// 1-based line.
        line: usize,
        /// What was wrong, naming the field.
        what: String,
        /// The line.
        text: String,
    },
    /// A layer the table does not have.
    #[error("the latency table has no entry for layer {0}")]
    MissingLayer(LayerKey),
    /// A head width the table does not have.
    #[error("the latency table has no entry for a head of {0} channels")]
    MissingHead(usize),
}

/// Per-layer latencies in microseconds per image.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LatencyTable {
    layers: BTreeMap<LayerKey, f64>,
    heads: BTreeMap<usize, f64>,
}

const HEADER: &str = "kind,op,kernel,expansion,stride,in,out,side,se,residual,latency_us";

impl LatencyTable {
    /// The table shipped with the crate.
    pub fn shipped() -> &'static LatencyTable {
        static TABLE: std::sync::OnceLock<LatencyTable> = std::sync::OnceLock::new();
        TABLE.get_or_init(|| {
            LatencyTable::parse(
                "data/mnas_latency.csv",
                include_str!("../../data/mnas_latency.csv"),
            )
            .expect("the shipped latency table parses")
        })
    }

    /// Entries.
    pub fn len(&self) -> usize {
        self.layers.len() + self.heads.len()
    }

    /// Whether it has no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads a table in the CSV form [`LatencyTable::to_csv`] writes; errors
    /// name `name`, the line and the field.
    pub fn parse(name: &str, text: &str) -> Result<Self, LatencyError> {
        let mut table = LatencyTable::default();
        for (i, line) in text.lines().enumerate() {
            let error = |what: String| LatencyError::Parse {
                source_name: name.to_string(),
                line: i + 1,
                what,
                text: line.to_string(),
            };
            if i == 0 {
                if line != HEADER {
                    return Err(error(format!("expected the header {HEADER:?}")));
                }
                continue;
            }
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split(',').collect();
            if fields.len() != 11 {
                return Err(error(format!("{} fields, expected 11", fields.len())));
            }
            let number = |at: usize, field: &str| -> Result<usize, LatencyError> {
                fields[at]
                    .parse()
                    .map_err(|_| error(format!("field {field}: {:?} is not a count", fields[at])))
            };
            let latency: f64 = fields[10]
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| {
                    error(format!(
                        "field latency_us: {:?} is not a latency",
                        fields[10]
                    ))
                })?;
            match fields[0] {
                "head" => {
                    table.heads.insert(number(5, "in")?, latency);
                }
                "layer" => {
                    let op = Op::parse(fields[1])
                        .ok_or_else(|| error(format!("field op: unknown op {:?}", fields[1])))?;
                    let squeeze_excite = match fields[8] {
                        "none" => None,
                        "sigmoid" => Some(false),
                        "hard" => Some(true),
                        other => return Err(error(format!("field se: unknown {other:?}"))),
                    };
                    let residual = match fields[9] {
                        "0" => false,
                        "1" => true,
                        other => {
                            return Err(error(format!("field residual: {other:?} is not 0 or 1")));
                        }
                    };
                    let key = LayerKey {
                        op,
                        kernel: number(2, "kernel")?,
                        expansion: number(3, "expansion")?,
                        stride: number(4, "stride")?,
                        in_channels: number(5, "in")?,
                        out_channels: number(6, "out")?,
                        side: number(7, "side")?,
                        squeeze_excite,
                        residual,
                    };
                    table.layers.insert(key, latency);
                }
                other => {
                    return Err(error(format!(
                        "field kind: {other:?} is neither layer nor head"
                    )));
                }
            }
        }
        Ok(table)
    }

    /// The table as CSV, entries in key order, latencies to 0.01 µs.
    pub fn to_csv(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!("{HEADER}\n");
        for (key, latency) in &self.layers {
            writeln!(out, "{key},{latency:.2}").expect("writing to a String");
        }
        for (channels, latency) in &self.heads {
            writeln!(out, "head,,,,,{channels},{N_CLASSES},1,none,0,{latency:.2}")
                .expect("writing to a String");
        }
        out
    }

    /// The latency of one layer.
    pub fn layer(&self, key: &LayerKey) -> Result<f64, LatencyError> {
        self.layers
            .get(key)
            .copied()
            .ok_or(LatencyError::MissingLayer(*key))
    }

    /// The latency of `arch` in microseconds per image.
    pub fn latency(&self, arch: &Architecture) -> Result<f64, LatencyError> {
        let (keys, channels) = super::network::layer_keys(arch);
        let mut total = 0.0;
        for key in &keys {
            total += self.layer(key)?;
        }
        total += self
            .heads
            .get(&channels)
            .copied()
            .ok_or(LatencyError::MissingHead(channels))?;
        Ok(total)
    }
}

/// Every layer any architecture of the space can have, and every head width.
pub(crate) fn reachable() -> (BTreeSet<LayerKey>, BTreeSet<usize>) {
    let mut keys = BTreeSet::from([STEM_KEY]);
    let mut states = BTreeSet::from([(STEM_FILTERS, 8usize)]);
    for b in 0..BLOCKS {
        // Only a block of base repeats 1 (r − 1 = 0) can vanish.
        let mut next = if BASE_REPEATS[b] == 1 {
            states.clone()
        } else {
            BTreeSet::new()
        };
        for &(channels, side) in &states {
            for quarter in FILTER_QUARTERS {
                let filters = BASE_FILTERS[b] * quarter / 4;
                for op in [Op::Conv, Op::Depthwise, Op::MbConv] {
                    for expansion in EXPANSIONS {
                        for kernel in KERNELS {
                            for (squeeze_excite, hard_gate) in
                                [(false, false), (true, false), (true, true)]
                            {
                                for skip in [false, true] {
                                    let spec = BlockSpec {
                                        repeats: BASE_REPEATS[b] + 1,
                                        op,
                                        expansion,
                                        kernel,
                                        squeeze_excite,
                                        hard_gate,
                                        filters,
                                        skip,
                                    };
                                    keys.insert(layer_key(&spec, channels, side, STRIDES[b]));
                                    let after = out_side(side, kernel, STRIDES[b]);
                                    keys.insert(layer_key(&spec, filters, after, 1));
                                    next.insert((filters, after));
                                }
                            }
                        }
                    }
                }
            }
        }
        states = next;
    }
    let heads = states.iter().map(|&(channels, _)| channels).collect();
    (keys, heads)
}

/// Measures every reachable layer and head on this machine: the median of
/// `runs` timed inference passes over 32 random images (after 2 untimed ones),
/// per image. `progress` is called once per entry with (done, total).
pub fn measure_latency_table(runs: usize, mut progress: impl FnMut(usize, usize)) -> LatencyTable {
    const IMAGES: usize = 32;
    let (keys, heads) = reachable();
    let total = keys.len() + heads.len();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x1A7E);
    let input = |channels: usize, side: usize, rng: &mut Xoshiro256PlusPlus| {
        let mut t = Tensor::zeros(channels, IMAGES, side, side);
        for v in &mut t.data {
            *v = crate::nn::layers::normal(rng);
        }
        t
    };
    let median = |mut f: Box<dyn FnMut() + '_>| {
        for _ in 0..2 {
            f();
        }
        let mut times: Vec<f64> = (0..runs.max(1))
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64()
            })
            .collect();
        times.sort_by(f64::total_cmp);
        times[times.len() / 2] * 1e6 / IMAGES as f64
    };
    let mut table = LatencyTable::default();
    for (done, key) in keys.iter().enumerate() {
        let x = input(key.in_channels, key.side, &mut rng);
        let mut unit = build_unit(key, &mut rng);
        let latency = median(Box::new(|| {
            std::hint::black_box(unit.forward(&x, false));
        }));
        table.layers.insert(*key, latency);
        progress(done + 1, total);
    }
    for (done, &channels) in heads.iter().enumerate() {
        let x = input(channels, 2, &mut rng);
        let mut head = Classifier::new(channels, N_CLASSES, &mut rng);
        let latency = median(Box::new(|| {
            std::hint::black_box(head.forward(&x, false));
        }));
        table.heads.insert(channels, latency);
        progress(keys.len() + done + 1, total);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mnas::MnasSpace;
    use rand::SeedableRng;
    use ufh_search::{SearchRng, SearchSpace};

    #[test]
    fn the_shipped_table_covers_every_reachable_layer_and_round_trips() {
        let table = LatencyTable::shipped();
        let (keys, heads) = reachable();
        assert_eq!(table.len(), keys.len() + heads.len());
        for key in &keys {
            let latency = table.layer(key).unwrap();
            assert!(latency > 0.0, "{key}: {latency}");
        }
        assert_eq!(
            LatencyTable::parse("again", &table.to_csv()).unwrap(),
            *table
        );
        let mut rng = SearchRng::seed_from_u64(1);
        for _ in 0..200 {
            let arch = MnasSpace.sample(&mut rng);
            assert!(table.latency(&arch).unwrap() > 0.0);
        }
    }

    #[test]
    fn bad_tables_are_refused_with_the_line_and_field() {
        let good = LatencyTable::shipped().to_csv();
        let mut lines: Vec<&str> = good.lines().collect();
        let broken = lines[1]
            .replace(",conv,", ",pool,")
            .replace(",sep,", ",pool,")
            .replace(",mbconv,", ",pool,");
        lines[1] = &broken;
        let err = LatencyTable::parse("t.csv", &lines.join("\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t.csv line 2") && err.contains("field op"),
            "{err}"
        );
        let err = LatencyTable::parse("t.csv", "kind\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1") && err.contains("header"), "{err}");
        let empty = LatencyTable::parse("t.csv", HEADER).unwrap();
        let err = empty
            .latency(&Architecture::REFERENCE)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no entry for layer layer,conv,3"), "{err}");
    }
}
