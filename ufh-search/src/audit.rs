//! The counterfactual audit (Section 6.5 of the paper): cache hits evaluated
//! anyway, off the clock, to count collisions.

/// Counterfactual audit (Section 6.5): on every full cache hit, evaluate anyway
/// (off the clock) and count a collision when the cached and the fresh validation
/// fitness differ by more than `tolerance`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AuditConfig {
    /// Largest difference that still counts as the same result.
    pub tolerance: f64,
}

/// Counts of the counterfactual audit of cache hits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditCounters {
    /// Cache hits evaluated anyway.
    pub audited: u64,
    /// Of those, hits whose fresh fitness differed from the cached one.
    pub collisions: u64,
}

impl AuditCounters {
    /// Fraction of audited hits that were collisions.
    pub fn collision_rate(&self) -> Option<f64> {
        (self.audited > 0).then(|| self.collisions as f64 / self.audited as f64)
    }

    /// Counts one audited hit: a collision when `fresh` and `cached` validation
    /// fitness differ by more than the tolerance, or one of them is NaN.
    pub(crate) fn audit(&mut self, config: AuditConfig, cached: f64, fresh: f64) {
        self.audited += 1;
        if (fresh - cached).abs() > config.tolerance || fresh.is_nan() != cached.is_nan() {
            self.collisions += 1;
        }
    }
}
