//! The driver's event streaming: a streamed record equals a kept one, and a
//! failing sink is an error.

use std::num::NonZeroUsize;

use super::tests::evolution;
use super::*;
use crate::testutil::{IntSpace, PeriodicEvaluator, PeriodicHasher};

/// A record whose events were streamed, not kept, has the same summaries, and
/// the stream holds exactly the kept record's events; on one worker, on four
/// simulated workers, and on the pool.
#[test]
fn streamed_records_equal_kept_ones() {
    let evaluator = PeriodicEvaluator::new(7, 100.0, 0.05);
    let hasher = PeriodicHasher::new(7, 1.0);
    let space = IntSpace::new(300);
    let techniques = Techniques {
        fec: Some(FecConfig::PLAIN),
        ..Techniques::NONE
    };
    let search = || {
        Search::new(&space, &evaluator, Budget::Candidates(500), 11)
            .hasher(&hasher)
            .techniques(techniques)
            .unwrap()
    };
    for mode in 0..3 {
        let run = |search: Search<'_, _, _, _>| match mode {
            0 => search.run(&mut evolution(20, 5), Mode::Serial),
            1 => search.run(
                &mut evolution(20, 5),
                Mode::Workers(NonZeroUsize::new(4).unwrap()),
            ),
            _ => search.run(
                &mut evolution(20, 5),
                Mode::Parallel(NonZeroUsize::new(3).unwrap()),
            ),
        };
        let kept = run(search()).unwrap().record;
        let streamed_events = std::sync::Mutex::new(Vec::new());
        let sink = |e: &Event| {
            streamed_events.lock().unwrap().push(*e);
        };
        let streamed = run(search().keep_events(false).stream_events(&sink))
            .unwrap()
            .record;
        let streamed_events = streamed_events.into_inner().unwrap();
        assert!(streamed.events.is_empty(), "mode {mode}");
        assert_eq!(streamed.n_events, kept.events.len() as u64);
        assert_eq!(streamed.n_events, kept.n_events);
        assert_eq!(streamed.best, kept.best);
        assert_eq!(
            streamed.best,
            SearchRecord::from_events(kept.events.clone()).best
        );
        assert_eq!(
            (streamed.cache, streamed.audit, streamed.n_hashes),
            (kept.cache, kept.audit, kept.n_hashes)
        );
        assert_eq!(streamed_events, kept.events, "mode {mode}");
        // The CSV sink writes what the kept record writes.
        let csv = crate::CsvEventSink::new(Vec::new());
        run(search().keep_events(false).stream_events(&csv)).unwrap();
        let mut expected = Vec::new();
        kept.write_events_csv(&mut expected).unwrap();
        let written = csv.into_inner().unwrap();
        assert_eq!(
            String::from_utf8(written).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }
}

/// A sink that fails ends the run with an error that says so.
#[test]
fn a_failing_sink_is_an_error() {
    struct Full;
    impl crate::EventSink for Full {
        fn event(&self, _: &Event) -> std::io::Result<()> {
            Err(std::io::Error::other("no space left on device"))
        }
    }
    let evaluator = PeriodicEvaluator::new(7, 100.0, 0.0);
    let hasher = PeriodicHasher::new(7, 1.0);
    let sink = Full;
    let err = Search::new(&IntSpace::new(50), &evaluator, Budget::Candidates(20), 1)
        .hasher(&hasher)
        .stream_events(&sink)
        .run(&mut evolution(5, 2), Mode::Serial)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "writing search events failed: no space left on device"
    );
}
