//! The search of `my_space.rs` on a symbolic space: the model's four weights are
//! `intv` decisions of a PyGlove-style space, decoded into the model for its
//! training and its hash.
//!
//! ```sh
//! cargo run -p ufh-search --example symbolic
//! ```

use ufh_core::{HashSpec, HashableOutputs, MantissaBits, Probe};
use ufh_search::symbolic::{Decoded, Dna, Space, SymbolicSpace};
use ufh_search::{Budget, Evaluation, Evaluator, EvolutionConfig, Mode, Search};
use ufh_search::{SearchRng, SpecHasher, Techniques};

/// `a + b·x + c·x²`; the fourth weight is dead: it is never read.
#[derive(Clone, Debug)]
struct Model([i64; 4]);

impl Model {
    fn at(&self, x: f64) -> f64 {
        self.0[..3].iter().rev().fold(0.0, |y, &c| y * x + c as f64)
    }
}

/// Its probe outputs: what it computes on the canonical inputs.
impl HashableOutputs for Model {
    type Error = std::convert::Infallible;
    fn emit_hashable_outputs(&self, probe: &mut Probe<'_>) -> Result<(), Self::Error> {
        (0..probe.n_examples()).for_each(|i| probe.push_f64(self.at(i as f64)));
        Ok(())
    }
}

/// "Training": how close the model is to 3 − 2x + x² (100 simulated seconds).
struct Fit;
impl Evaluator<Model> for Fit {
    fn evaluate(&self, model: &Model, _: &mut SearchRng) -> Evaluation {
        let target = |x: f64| 3.0 - 2.0 * x + x * x;
        let error: f64 = (0..10)
            .map(|x| (model.at(f64::from(x)) - target(f64::from(x))).abs())
            .sum();
        Evaluation {
            validation: -error,
            test: -error,
            cost_s: 100.0,
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let weights = ["a", "b", "c", "unused"];
    let space: SymbolicSpace<()> =
        SymbolicSpace::new(Space::dict(weights.map(|w| (w, Space::intv(-9, 9)))))?;
    let decode = |dna: &Dna| {
        let value = space.materialize(dna).expect("a point of the space");
        Model(weights.map(|w| value.field(w).and_then(|v| v.as_int()).expect("an intv")))
    };
    let spec = HashSpec::new(MantissaBits::f64(24)?, 5, vec![0])?;
    let hasher = Decoded {
        decode,
        inner: SpecHasher::new(spec, 1.0),
    };
    let fit = Decoded { decode, inner: Fit };
    let search = Search::new(&space, &fit, Budget::SimulatedSeconds(50_000.0), 7)
        .hasher(&hasher)
        .techniques(Techniques::FEC)?;
    let found = search.run(
        &mut EvolutionConfig::regularized(20, 5).build()?,
        Mode::Serial,
    )?;
    let best = found.best.expect("the budget allows a candidate");
    let hits = 100.0 * found.record.hit_rate().unwrap_or(0.0);
    println!(
        "best {:?}: fitness {}, {hits:.0}% cache hits",
        decode(&best.candidate),
        best.validation
    );
    Ok(())
}
