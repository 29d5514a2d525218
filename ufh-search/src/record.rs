//! What a search leaves behind: one event per candidate, and what follows from them.

use ufh_core::FunctionalHash;

use crate::{AuditCounters, CacheCounters, CostUnit};

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
    #[serde(with = "special_f64")]
    pub start_s: f64,
    /// Simulated time at which its fitness was known.
    #[serde(with = "special_f64")]
    pub end_s: f64,
    /// Its functional hash, if any technique computed one.
    pub hash: Option<FunctionalHash>,
    /// The fitness the algorithm received (a running mean under FEA).
    #[serde(with = "special_f64")]
    pub validation: f64,
    /// Test fitness of the same evaluation (or mean), for re-evaluation.
    #[serde(with = "special_f64")]
    pub test: f64,
    /// How the fitness was obtained.
    pub outcome: Outcome,
}

/// A point of the best-so-far time course.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BestPoint {
    /// When the best changed.
    #[serde(with = "special_f64")]
    pub time_s: f64,
    /// The best validation fitness so far.
    #[serde(with = "special_f64")]
    pub validation: f64,
    /// The test fitness of that best candidate.
    #[serde(with = "special_f64")]
    pub test: f64,
}

/// Everything recorded by one search.
///
/// The summaries (event count, best-so-far curve, cache and audit counts) are
/// always kept; the events themselves are kept unless the search was told to
/// stream them to an [`EventSink`] only (`Search::keep_events(false)`), so a long
/// search runs in memory bounded by its population, its cache and its curve.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SearchRecord {
    /// Every candidate, in completion order, when events are kept; else empty.
    pub events: Vec<Event>,
    /// Candidates recorded, kept or not.
    pub n_events: u64,
    /// The best-so-far curve, maintained as events arrive.
    pub best: Vec<BestPoint>,
    /// Cache outcome counts, when a cache was used.
    pub cache: Option<CacheCounters>,
    /// Audit counts, when the audit was on.
    pub audit: Option<AuditCounters>,
    /// Functional hashes computed (FCM and tabulist retries, and the
    /// algorithm's `is_known` queries, included).
    pub n_hashes: u64,
    /// The unit of every time and cost in the record (the evaluator's); absent
    /// in a record written before units were declared: simulated seconds.
    #[serde(default)]
    pub cost_unit: CostUnit,
}

/// Where a search streams its events as they happen. A search holds its sink by
/// shared reference, so that workers on several threads can hand it events:
/// a sink that keeps state locks it (as [`CsvEventSink`] does).
pub trait EventSink: Sync {
    /// Takes one event, in completion order.
    fn event(&self, event: &Event) -> std::io::Result<()>;
}

/// Streams events as the CSV rows of [`SearchRecord::write_events_csv`], header
/// first.
#[derive(Debug)]
pub struct CsvEventSink<W: std::io::Write> {
    state: std::sync::Mutex<CsvState<W>>,
    unit: CostUnit,
}

#[derive(Debug)]
struct CsvState<W> {
    out: W,
    header_written: bool,
}

impl<W: std::io::Write> CsvEventSink<W> {
    /// A sink writing to `out` (wrap files in a `BufWriter`), times in simulated
    /// seconds.
    pub fn new(out: W) -> Self {
        Self::with_unit(out, CostUnit::SimulatedSeconds)
    }

    /// A sink whose time columns are named by `unit` (the evaluator's
    /// [`Evaluator::cost_unit`](crate::Evaluator::cost_unit)).
    pub fn with_unit(out: W, unit: CostUnit) -> Self {
        Self {
            state: std::sync::Mutex::new(CsvState {
                out,
                header_written: false,
            }),
            unit,
        }
    }

    /// The writer, flushed.
    pub fn into_inner(self) -> std::io::Result<W> {
        // A poisoned lock means a thread panicked inside a write; what it left is
        // what there is.
        let mut state = self
            .state
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !state.header_written {
            write_csv_header(&mut state.out, self.unit)?;
        }
        state.out.flush()?;
        Ok(state.out)
    }
}

impl<W: std::io::Write + Send> EventSink for CsvEventSink<W> {
    fn event(&self, event: &Event) -> std::io::Result<()> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !state.header_written {
            write_csv_header(&mut state.out, self.unit)?;
            state.header_written = true;
        }
        write_csv_row(&mut state.out, event)
    }
}

/// Any `Fn(&Event) + Sync` is a sink that cannot fail.
impl<F: Fn(&Event) + Sync> EventSink for F {
    fn event(&self, event: &Event) -> std::io::Result<()> {
        self(event);
        Ok(())
    }
}

/// The CSV header, its time columns named by `unit`.
fn write_csv_header(out: &mut impl std::io::Write, unit: CostUnit) -> std::io::Result<()> {
    let u = unit.suffix();
    writeln!(out, "index,start_{u},end_{u},hash,validation,test,outcome")
}

fn write_csv_row(out: &mut impl std::io::Write, e: &Event) -> std::io::Result<()> {
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
    )
}

impl Default for SearchRecord {
    fn default() -> Self {
        Self::new()
    }
}

impl SearchRecord {
    /// An empty record.
    pub fn new() -> Self {
        Self {
            events: Vec::new(),
            n_events: 0,
            best: Vec::new(),
            cache: None,
            audit: None,
            n_hashes: 0,
            cost_unit: CostUnit::SimulatedSeconds,
        }
    }

    /// A record of these events, kept, with their summaries.
    pub fn from_events(events: Vec<Event>) -> Self {
        let mut record = Self::new();
        for event in &events {
            record.summarise(event);
        }
        record.events = events;
        record
    }

    /// Adds one event to the summaries, and to the events when `keep`.
    pub fn push(&mut self, event: Event, keep: bool) {
        self.summarise(&event);
        if keep {
            self.events.push(event);
        }
    }

    fn summarise(&mut self, event: &Event) {
        self.n_events += 1;
        if !event.validation.is_finite() {
            return;
        }
        let improves = self
            .best
            .last()
            .is_none_or(|best| event.validation > best.validation);
        if improves {
            self.best.push(BestPoint {
                time_s: event.end_s,
                validation: event.validation,
                test: event.test,
            });
        }
    }

    /// The best-so-far validation fitness over time: one point each time it
    /// improves. Failed candidates never count as best.
    pub fn best_so_far(&self) -> &[BestPoint] {
        &self.best
    }

    /// Area under the best-so-far validation curve over `[0, horizon_s]`, divided by
    /// `horizon_s`: the mean best fitness over the experiment. The curve is 0 before
    /// the first finite fitness (fitnesses here are accuracies, so non-negative).
    pub fn auc(&self, horizon_s: f64) -> f64 {
        if horizon_s <= 0.0 {
            return 0.0;
        }
        let mut area = 0.0;
        let mut points = self.best_so_far().iter().peekable();
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
    /// validation, test, outcome`, the time columns named by the record's
    /// [`CostUnit`] (`start_training_steps`, …, when it is not seconds). Floats
    /// are written so that they read back exactly; a missing hash is an empty
    /// field.
    pub fn write_events_csv(&self, mut out: impl std::io::Write) -> std::io::Result<()> {
        write_csv_header(&mut out, self.cost_unit)?;
        for e in &self.events {
            write_csv_row(&mut out, e)?;
        }
        Ok(())
    }

    /// Writes the whole record as JSON. JSON has no infinities and no NaN, so
    /// those values are written as the strings `"inf"`, `"-inf"` and `"NaN"`
    /// (a failed candidate's fitness is `"-inf"`); every value reads back
    /// exactly (NaN as the canonical NaN).
    pub fn write_json(&self, out: impl std::io::Write) -> serde_json::Result<()> {
        serde_json::to_writer(out, self)
    }

    /// Candidates that were evaluated: all but full cache hits.
    pub fn n_evaluations(&self) -> u64 {
        self.cache
            .map_or(self.n_events, |c| c.misses + c.partial_hits)
    }

    /// Fraction of cache lookups answered from the cache.
    pub fn hit_rate(&self) -> Option<f64> {
        let c = self.cache?;
        let lookups = c.misses + c.partial_hits + c.full_hits;
        (lookups > 0).then(|| c.full_hits as f64 / lookups as f64)
    }
}

/// Serde for `f64` fields that may hold infinities or NaN: finite values as JSON
/// numbers (Rust's shortest round-trip form), the others as `"inf"`, `"-inf"`
/// and `"NaN"`. Reading accepts both forms, so records written by any version
/// with only finite values still read.
mod special_f64 {
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub(super) fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        // Binary formats (checkpoints) hold every f64 as it is.
        if value.is_finite() || !serializer.is_human_readable() {
            serializer.serialize_f64(*value)
        } else if value.is_nan() {
            serializer.serialize_str("NaN")
        } else if *value > 0.0 {
            serializer.serialize_str("inf")
        } else {
            serializer.serialize_str("-inf")
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr<'a> {
        Number(f64),
        #[serde(borrow)]
        Text(std::borrow::Cow<'a, str>),
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        if !deserializer.is_human_readable() {
            return f64::deserialize(deserializer);
        }
        match Repr::deserialize(deserializer)? {
            Repr::Number(value) => Ok(value),
            Repr::Text(text) => match &*text {
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                "NaN" => Ok(f64::NAN),
                other => Err(de::Error::invalid_value(
                    de::Unexpected::Str(other),
                    &"a number, \"inf\", \"-inf\" or \"NaN\"",
                )),
            },
        }
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
        let record = SearchRecord::from_events(vec![
            event(10.0, 0.5),
            event(20.0, 0.4),
            event(30.0, f64::NEG_INFINITY),
            event(50.0, 0.9),
        ]);
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
            n_hashes: 1,
            ..SearchRecord::from_events(vec![e, event(11.0, f64::NEG_INFINITY)])
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
            cache: Some(CacheCounters {
                misses: 1,
                ..CacheCounters::default()
            }),
            audit: Some(AuditCounters {
                audited: 2,
                collisions: 1,
            }),
            n_hashes: 1,
            ..SearchRecord::from_events(vec![e])
        };
        let mut json = Vec::new();
        record.write_json(&mut json).unwrap();
        let back: SearchRecord = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, record);
    }

    /// Bit-exact equality of records, NaN equal to NaN (JSON keeps no NaN payload).
    fn same_bits(a: &SearchRecord, b: &SearchRecord) -> bool {
        let bits = |x: f64| {
            if x.is_nan() {
                f64::NAN.to_bits()
            } else {
                x.to_bits()
            }
        };
        a.events.len() == b.events.len()
            && a.events.iter().zip(&b.events).all(|(x, y)| {
                x.index == y.index
                    && x.hash == y.hash
                    && x.outcome == y.outcome
                    && [x.start_s, x.end_s, x.validation, x.test].map(bits)
                        == [y.start_s, y.end_s, y.validation, y.test].map(bits)
            })
            && a.cache == b.cache
            && a.audit == b.audit
            && a.n_hashes == b.n_hashes
    }

    #[test]
    fn json_keeps_failures_and_nan() {
        let mut failed = event(4.0, f64::NEG_INFINITY);
        failed.test = f64::NAN;
        failed.start_s = f64::INFINITY;
        let record = SearchRecord::from_events(vec![failed]);
        let mut json = Vec::new();
        record.write_json(&mut json).unwrap();
        let text = String::from_utf8(json).unwrap();
        assert!(text.contains(r#""validation":"-inf""#), "{text}");
        let back: SearchRecord = serde_json::from_str(&text).unwrap();
        assert!(same_bits(&back, &record), "{back:?}");
        let bad = text.replace(r#""-inf""#, r#""minus infinity""#);
        let err = serde_json::from_str::<SearchRecord>(&bad).unwrap_err();
        assert!(err.to_string().contains("minus infinity"), "{err}");
    }

    fn special_or_any() -> impl proptest::strategy::Strategy<Value = f64> {
        use proptest::prelude::*;
        prop_oneof![
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(f64::NAN),
            Just(0.0),
            Just(-0.0),
            Just(f64::MIN_POSITIVE),
            Just(f64::MAX),
            Just(5e-324),
            any::<f64>(),
        ]
    }

    proptest::proptest! {
        #[test]
        fn json_round_trips_every_special_value(
            values in proptest::collection::vec(
                (special_or_any(), special_or_any(), special_or_any(), special_or_any(),
                 proptest::option::of(proptest::prelude::any::<u64>()), 0u8..4),
                0..20,
            ),
            n_hashes in proptest::prelude::any::<u64>(),
        ) {
            let events = values
                .iter()
                .enumerate()
                .map(|(i, &(start_s, end_s, validation, test, hash, outcome))| Event {
                    index: i as u64,
                    start_s,
                    end_s,
                    hash: hash.map(FunctionalHash),
                    validation,
                    test,
                    outcome: [Outcome::Evaluated, Outcome::Miss, Outcome::PartialHit, Outcome::Hit]
                        [usize::from(outcome)],
                })
                .collect();
            let record = SearchRecord { n_hashes, ..SearchRecord::from_events(events) };
            let mut json = Vec::new();
            record.write_json(&mut json).unwrap();
            let back: SearchRecord = serde_json::from_slice(&json).unwrap();
            proptest::prop_assert!(same_bits(&back, &record), "{back:?} != {record:?}");
            for point in record.best_so_far() {
                let text = serde_json::to_string(&point).unwrap();
                let back: BestPoint = serde_json::from_str(&text).unwrap();
                proptest::prop_assert_eq!(back.time_s.to_bits(), point.time_s.to_bits());
                proptest::prop_assert_eq!(back.validation.to_bits(), point.validation.to_bits());
                proptest::prop_assert_eq!(back.test.is_nan(), point.test.is_nan());
            }
        }
    }
}
