//! The golden-vector table: parsing its rows and computing their hashes.
//!
//! Shared by `tests/golden.rs` (which checks the committed hashes) and by
//! `cargo xtask golden --bless` (which rewrites them after a deliberate change).
//!
//! Format: tab-separated, `#` starts a comment line, one case per row:
//! `name  kind  mantissa  values  hash64  hash128`, where
//! * `kind` is `f64`, `f32`, `f16`, `bf16`, `u64` (values pushed as one slice),
//!   `f64-each` (f64 values pushed one at a time) or `probe` (the unified
//!   procedure, see `probe_candidate`);
//! * `mantissa` is `FORMAT:BITS`, for example `f64:24`;
//! * `values` is `-` (none), comma-separated hexadecimal bit patterns, or
//!   `ramp(N)`: the N values `(i - N/2) / 64` for `i` in `0..N`, exact in every
//!   format; for `probe` it is a comma-separated list of seeds;
//! * the hashes are lowercase hex, or `?` before blessing.

use std::convert::Infallible;

use rand::RngCore;
use ufh_core::{
    FloatFormat, FromFn, FunctionalHasher, HashSpec, MantissaBits, Probe, functional_hash,
    functional_hash_128,
};

/// One row of the table.
#[derive(Debug, Clone)]
pub struct GoldenRow {
    pub name: String,
    pub kind: String,
    pub mantissa: String,
    pub values: String,
    pub hash64: String,
    pub hash128: String,
}

pub fn parse_table(text: &str) -> Result<Vec<GoldenRow>, String> {
    let mut rows = Vec::new();
    for (line_no, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, kind, mantissa, values, hash64, hash128] = fields[..] else {
            return Err(format!(
                "line {}: expected 6 tab-separated fields, got {}",
                line_no + 1,
                fields.len()
            ));
        };
        rows.push(GoldenRow {
            name: name.into(),
            kind: kind.into(),
            mantissa: mantissa.into(),
            values: values.into(),
            hash64: hash64.into(),
            hash128: hash128.into(),
        });
    }
    Ok(rows)
}

fn parse_mantissa(text: &str) -> MantissaBits {
    let (format, bits) = text.split_once(':').expect("mantissa is FORMAT:BITS");
    let format = match format {
        "f64" => FloatFormat::F64,
        "f32" => FloatFormat::F32,
        "f16" => FloatFormat::F16,
        "bf16" => FloatFormat::Bf16,
        other => panic!("unknown format {other}"),
    };
    MantissaBits::new(format, bits.parse().expect("bits is a number")).expect("valid bits")
}

/// The values of a row as f64 (exact in every format for `ramp`) or raw bits.
fn values(text: &str) -> Values {
    if text == "-" {
        return Values::Bits(Vec::new());
    }
    if let Some(n) = text.strip_prefix("ramp(").and_then(|t| t.strip_suffix(')')) {
        let n: i64 = n.parse().expect("ramp length");
        return Values::Ramp((0..n).map(|i| (i - n / 2) as f64 / 64.0).collect());
    }
    Values::Bits(
        text.split(',')
            .map(|v| u64::from_str_radix(v.trim_start_matches("0x"), 16).expect("hex bits"))
            .collect(),
    )
}

enum Values {
    Bits(Vec<u64>),
    Ramp(Vec<f64>),
}

fn f32_bits_to_f16(x: f32) -> u16 {
    // Exact for the ramp values (small multiples of 1/64); not a general conversion.
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    if x == 0.0 {
        return sign;
    }
    let exp = ((bits >> 23) & 0xFF) as i32 - 127 + 15;
    let mantissa = ((bits >> 13) & 0x3FF) as u16;
    sign | ((exp as u16) << 10) | mantissa
}

/// Pushes a row's values in the row's way.
fn push_row<W: ufh_core::HashWidth>(row: &GoldenRow, hasher: &mut FunctionalHasher<W>) {
    match (row.kind.as_str(), values(&row.values)) {
        ("f64", Values::Bits(b)) => {
            hasher.push_f64s(&b.iter().map(|&x| f64::from_bits(x)).collect::<Vec<_>>())
        }
        ("f64", Values::Ramp(v)) => hasher.push_f64s(&v),
        ("f64-each", Values::Bits(b)) => b.iter().for_each(|&x| hasher.push_f64(f64::from_bits(x))),
        ("f64-each", Values::Ramp(v)) => v.iter().for_each(|&x| hasher.push_f64(x)),
        ("f32", Values::Bits(b)) => hasher.push_f32s(
            &b.iter()
                .map(|&x| f32::from_bits(x as u32))
                .collect::<Vec<_>>(),
        ),
        ("f32", Values::Ramp(v)) => {
            hasher.push_f32s(&v.iter().map(|&x| x as f32).collect::<Vec<_>>())
        }
        ("f16", Values::Bits(b)) => {
            hasher.push_f16_bits(&b.iter().map(|&x| x as u16).collect::<Vec<_>>())
        }
        ("f16", Values::Ramp(v)) => hasher.push_f16_bits(
            &v.iter()
                .map(|&x| f32_bits_to_f16(x as f32))
                .collect::<Vec<_>>(),
        ),
        ("bf16", Values::Bits(b)) => {
            hasher.push_bf16_bits(&b.iter().map(|&x| x as u16).collect::<Vec<_>>())
        }
        ("bf16", Values::Ramp(v)) => hasher.push_bf16_bits(
            &v.iter()
                .map(|&x| ((x as f32).to_bits() >> 16) as u16)
                .collect::<Vec<_>>(),
        ),
        ("u64", Values::Bits(b)) => b.iter().for_each(|&x| hasher.push_u64(x)),
        (kind, _) => panic!("row {}: unsupported kind/values {kind}", row.name),
    }
}

/// The candidate of `probe` rows: under each seed it draws `n_examples` raw 64-bit
/// numbers from the probe's RNG and pushes each as the f64 `(u >> 11) * 2^-53 - 0.5`,
/// an exact, library-independent conversion.
fn probe_candidate(probe: &mut Probe<'_>) -> Result<(), Infallible> {
    for _ in 0..probe.n_examples() {
        let u = probe.rng().next_u64();
        let x = (u >> 11) as f64 * (1.0 / (1u64 << 53) as f64) - 0.5;
        probe.push_f64(x);
    }
    Ok(())
}

/// The (64-bit, 128-bit) hashes of a row, as lowercase hex.
pub fn compute(row: &GoldenRow) -> (String, String) {
    let m = parse_mantissa(&row.mantissa);
    if row.kind == "probe" {
        let seeds = row
            .values
            .split(',')
            .map(|s| s.parse().expect("seed"))
            .collect();
        let spec = HashSpec::new(m, 4, seeds).expect("valid spec");
        let candidate = FromFn(probe_candidate);
        let h64 = functional_hash(&candidate, &spec).unwrap();
        let h128 = functional_hash_128(&candidate, &spec).unwrap();
        return (h64.to_string(), h128.to_string());
    }
    let mut narrow = FunctionalHasher::new(m);
    push_row(row, &mut narrow);
    let mut wide = FunctionalHasher::new_128(m);
    push_row(row, &mut wide);
    (narrow.finish().to_string(), wide.finish().to_string())
}
