//! Your own search with functional hashing: your candidate type, your training,
//! your probe outputs; regularized evolution with the functional equivalence
//! cache; the best candidate printed.
//!
//! ```sh
//! cargo run -p ufh-search --example my_space
//! ```

use rand::Rng;
use ufh_core::{HashSpec, HashableOutputs, MantissaBits, Probe};
use ufh_search::{Budget, Evaluation, EvolutionConfig, Mode, Search};
use ufh_search::{SearchRng, SearchSpace, SpecHasher, Techniques};

/// `a + b·x + c·x²`; the fourth weight is dead: it is never read, so models
/// that differ only there compute the same function.
#[derive(Clone, Debug)]
struct Model([i8; 4]);

impl Model {
    fn at(&self, x: f64) -> f64 {
        self.0[..3]
            .iter()
            .rev()
            .fold(0.0, |y, &c| y * x + f64::from(c))
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

struct Models;
impl SearchSpace for Models {
    type Candidate = Model;
    fn sample(&self, rng: &mut SearchRng) -> Model {
        Model([0; 4].map(|_| rng.random_range(-9..=9)))
    }
    fn mutate(&self, parent: &Model, rng: &mut SearchRng) -> Model {
        let mut child = parent.clone();
        child.0[rng.random_range(0..4)] = rng.random_range(-9..=9);
        child
    }
}

/// "Training": how well the model fits y = 3 − 2x + x² (100 simulated seconds).
fn fit(model: &Model, _: &mut SearchRng) -> Evaluation {
    let error: f64 = (0..10)
        .map(f64::from)
        .map(|x| (model.at(x) - (3.0 - 2.0 * x + x * x)).abs())
        .sum();
    Evaluation {
        validation: -error,
        test: -error,
        cost_s: 100.0,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let hasher = SpecHasher::new(HashSpec::new(MantissaBits::f64(24)?, 5, vec![0])?, 1.0);
    let search = Search::new(&Models, &fit, Budget::SimulatedSeconds(50_000.0), 7)
        .hasher(&hasher)
        .techniques(Techniques::FEC)?;
    let found = search.run(
        &mut EvolutionConfig::regularized(20, 5).build()?,
        Mode::Serial,
    )?;
    let best = found.best.expect("the budget allows a candidate");
    let hits = found.record.hit_rate().unwrap_or(0.0);
    println!(
        "best {:?}, fitness {}, {:.0}% cache hits",
        best.candidate,
        best.validation,
        100.0 * hits
    );
    Ok(())
}
