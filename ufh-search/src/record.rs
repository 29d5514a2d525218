//! What a search leaves behind: one event per candidate, and what follows from them.

use ufh_core::FunctionalHash;

use crate::CacheCounters;

/// How a candidate's fitness was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Evaluated, with no cache in use.
    Evaluated,
    /// Not in the cache: evaluated and cached.
    Miss,
    /// In the cache but still aggregating (FEA): evaluated again.
    PartialHit,
    /// Answered from the cache, not evaluated.
    Hit,
}

/// One candidate's passage through the loop.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// Position in proposal order.
    pub index: u64,
    /// Simulated time at which its processing (hashing, then evaluation) started.
    pub start_s: f64,
    /// Simulated time at which its fitness was known.
    pub end_s: f64,
    /// Its functional hash, if any technique computed one.
    pub hash: Option<FunctionalHash>,
    /// The fitness the algorithm received (a running mean under FEA).
    pub validation: f64,
    /// Test fitness of the same evaluation (or mean), for re-evaluation.
    pub test: f64,
    /// How the fitness was obtained.
    pub outcome: Outcome,
}

/// A point of the best-so-far time course.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BestPoint {
    /// When the best changed.
    pub time_s: f64,
    /// The best validation fitness so far.
    pub validation: f64,
    /// The test fitness of that best candidate.
    pub test: f64,
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
}

/// Everything recorded by one search.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SearchRecord {
    /// Every candidate, in completion order.
    pub events: Vec<Event>,
    /// Cache outcome counts, when a cache was used.
    pub cache: Option<CacheCounters>,
    /// Audit counts, when the audit was on.
    pub audit: Option<AuditCounters>,
    /// Functional hashes computed (FCM and tabulist retries included).
    pub n_hashes: u64,
}

impl SearchRecord {
    /// The best-so-far validation fitness over time: one point each time it
    /// improves. Failed candidates never count as best.
    pub fn best_so_far(&self) -> Vec<BestPoint> {
        let mut points: Vec<BestPoint> = Vec::new();
        for event in &self.events {
            if !event.validation.is_finite() {
                continue;
            }
            let improves = points
                .last()
                .is_none_or(|best| event.validation > best.validation);
            if improves {
                points.push(BestPoint {
                    time_s: event.end_s,
                    validation: event.validation,
                    test: event.test,
                });
            }
        }
        points
    }

    /// Area under the best-so-far validation curve over `[0, horizon_s]`, divided by
    /// `horizon_s`: the mean best fitness over the experiment. The curve is 0 before
    /// the first finite fitness (fitnesses here are accuracies, so non-negative).
    pub fn auc(&self, horizon_s: f64) -> f64 {
        if horizon_s <= 0.0 {
            return 0.0;
        }
        let mut area = 0.0;
        let mut points = self.best_so_far().into_iter().peekable();
        while let Some(point) = points.next() {
            if point.time_s >= horizon_s {
                break;
            }
            let until = points
                .peek()
                .map_or(horizon_s, |next| next.time_s.min(horizon_s));
            area += point.validation * (until - point.time_s);
        }
        area / horizon_s
    }

    /// Writes one CSV row per event, with a header: `index, start_s, end_s, hash,
    /// validation, test, outcome`. Floats are written so that they read back
    /// exactly; a missing hash is an empty field.
    pub fn write_events_csv(&self, mut out: impl std::io::Write) -> std::io::Result<()> {
        writeln!(out, "index,start_s,end_s,hash,validation,test,outcome")?;
        for e in &self.events {
            let hash = e.hash.map(|h| h.to_string()).unwrap_or_default();
            let outcome = match e.outcome {
                Outcome::Evaluated => "evaluated",
                Outcome::Miss => "miss",
                Outcome::PartialHit => "partial_hit",
                Outcome::Hit => "hit",
            };
            writeln!(
                out,
                "{},{:?},{:?},{hash},{:?},{:?},{outcome}",
                e.index, e.start_s, e.end_s, e.validation, e.test
            )?;
        }
        Ok(())
    }

    /// Writes the whole record as JSON. Infinite fitness (a failed candidate) is
    /// written as `null`, as JSON has no infinity.
    pub fn write_json(&self, out: impl std::io::Write) -> serde_json::Result<()> {
        serde_json::to_writer(out, self)
    }

    /// Fraction of cache lookups answered from the cache.
    pub fn hit_rate(&self) -> Option<f64> {
        let c = self.cache?;
        let lookups = c.misses + c.partial_hits + c.full_hits;
        (lookups > 0).then(|| c.full_hits as f64 / lookups as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(end_s: f64, validation: f64) -> Event {
        Event {
            index: 0,
            start_s: 0.0,
            end_s,
            hash: None,
            validation,
            test: validation - 0.1,
            outcome: Outcome::Evaluated,
        }
    }

    #[test]
    fn auc_integrates_the_best_so_far_step_function() {
        let record = SearchRecord {
            events: vec![
                event(10.0, 0.5),
                event(20.0, 0.4),
                event(30.0, f64::NEG_INFINITY),
                event(50.0, 0.9),
            ],
            cache: None,
            audit: None,
            n_hashes: 0,
        };
        let best = record.best_so_far();
        assert_eq!(best.len(), 2);
        // 0 on [0,10), 0.5 on [10,50), 0.9 on [50,100).
        let expected = (0.5 * 40.0 + 0.9 * 50.0) / 100.0;
        assert!((record.auc(100.0) - expected).abs() < 1e-12);
        // A horizon before the last improvement ignores it.
        assert!((record.auc(40.0) - 0.5 * 30.0 / 40.0).abs() < 1e-12);
    }

    #[test]
    fn csv_rows_read_back_exactly() {
        let mut e = event(10.5, 0.1 + 0.2);
        e.hash = Some(FunctionalHash(0xabc));
        e.outcome = Outcome::PartialHit;
        let record = SearchRecord {
            events: vec![e, event(11.0, f64::NEG_INFINITY)],
            cache: None,
            audit: None,
            n_hashes: 1,
        };
        let mut csv = Vec::new();
        record.write_events_csv(&mut csv).unwrap();
        let text = String::from_utf8(csv).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "index,start_s,end_s,hash,validation,test,outcome");
        let fields: Vec<&str> = lines[1].split(',').collect();
        assert_eq!(fields[3], "0000000000000abc");
        assert_eq!(fields[4].parse::<f64>().unwrap(), 0.1 + 0.2);
        assert_eq!(fields[6], "partial_hit");
        assert_eq!(lines[2].split(',').nth(4), Some("-inf"));
        assert_eq!(lines[2].split(',').nth(3), Some(""));
    }

    #[test]
    fn json_round_trips_finite_records() {
        let mut e = event(3.0, 0.75);
        e.hash = Some(FunctionalHash(5));
        let record = SearchRecord {
            events: vec![e],
            cache: Some(CacheCounters {
                misses: 1,
                ..CacheCounters::default()
            }),
            audit: Some(AuditCounters {
                audited: 2,
                collisions: 1,
            }),
            n_hashes: 1,
        };
        let mut json = Vec::new();
        record.write_json(&mut json).unwrap();
        let back: SearchRecord = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, record);
    }
}
