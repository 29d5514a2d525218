//! Seeded fuzzing of the NAS-Bench-101 reader and the binary table loader: mutated
//! bytes of valid files never panic, and never make the loader allocate far beyond
//! the size of its input (a frame or header claiming gigabytes must not be
//! believed). One test per binary: the allocation counter is process-wide.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use ufh_spaces::nasbench101::{EpochMetrics, ModelTable, RepeatMetrics};
use ufh_spaces::nasbench101::{NasBench101, NasBench101Writer, enumerate_unique_cells};

/// The system allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(pointer, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes allocated at the peak of `f`, above what was live before it.
fn peak_during(f: impl FnOnce()) -> usize {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    f();
    PEAK.load(Ordering::Relaxed).saturating_sub(before)
}

fn valid_file() -> Vec<u8> {
    let mut writer = NasBench101Writer::new(Vec::new());
    for (model, (_, cell)) in enumerate_unique_cells(3, 9).iter().enumerate() {
        for epochs in [4, 108] {
            for repeat in 0..3 {
                let at = |f: f64| EpochMetrics {
                    training_time: 10.0 * f + repeat as f64,
                    train_accuracy: 0.5 + 0.1 * f,
                    validation_accuracy: 0.4 + 0.1 * f + model as f64 / 100.0,
                    test_accuracy: 0.4,
                };
                let run = RepeatMetrics {
                    halfway: at(0.5),
                    end: at(1.0),
                };
                writer.write_run(cell, epochs, 100, &run).unwrap();
            }
        }
    }
    writer.into_inner().unwrap()
}

/// One seeded mutation: bit flips, overwritten little-endian lengths, cuts,
/// inserted and duplicated spans.
fn mutate(bytes: &[u8], rng: &mut Xoshiro256PlusPlus) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for _ in 0..rng.random_range(1..4) {
        if out.is_empty() {
            out.push(rng.random());
            continue;
        }
        let at = rng.random_range(0..out.len());
        match rng.random_range(0..6) {
            0 => out[at] ^= 1 << rng.random_range(0..8),
            1 => out[at] = rng.random(),
            2 => {
                // A huge little-endian count where a length or count may sit.
                let huge: u64 = rng.random_range(1u64 << 20..u64::MAX);
                let end = (at + 8).min(out.len());
                let bytes = huge.to_le_bytes();
                out[at..end].copy_from_slice(&bytes[..end - at]);
            }
            3 => out.truncate(at),
            4 => {
                let n = rng.random_range(1..32);
                let insert: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                out.splice(at..at, insert);
            }
            _ => {
                let end = (at + rng.random_range(1..64)).min(out.len());
                let span = out[at..end].to_vec();
                out.splice(at..at, span);
            }
        }
    }
    out
}

/// Makes a mutation get past the checksums, so that it reaches the parsing behind
/// them: a TFRecord frame at the start claims a huge (or random) length under a
/// valid length CRC; a binary table gets its CRC32C recomputed.
fn reseal(bytes: &mut [u8], is_tfrecord: bool, rng: &mut Xoshiro256PlusPlus) {
    if is_tfrecord {
        if bytes.len() < 12 {
            return;
        }
        let length: u64 = if rng.random_bool(0.5) {
            1 << rng.random_range(20..31)
        } else {
            rng.random_range(0..4096)
        };
        bytes[..8].copy_from_slice(&length.to_le_bytes());
        let crc = ufh_spaces::nasbench101::tfrecord::masked_crc32c(&bytes[..8]);
        bytes[8..12].copy_from_slice(&crc.to_le_bytes());
    } else if bytes.len() >= 12 {
        let body = bytes.len() - 4;
        let crc = crc32c::crc32c(&bytes[..body]);
        bytes[body..].copy_from_slice(&crc.to_le_bytes());
    }
}

#[test]
fn mutated_files_never_panic_or_allocate_beyond_their_size() {
    let tfrecord = valid_file();
    let table = NasBench101::from_reader("valid.tfrecord", &tfrecord[..]).unwrap();
    let mut binary = Vec::new();
    table.table().write_binary(&mut binary, "fuzz").unwrap();
    // Warm up the thread pool and lazily allocated state before counting.
    let _ = NasBench101::from_reader("warm.tfrecord", &tfrecord[..]);
    let _ = ModelTable::read_binary(&binary);

    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x5eed);
    let mut rejected = 0;
    for round in 0..600 {
        let (source, is_tfrecord) = if round % 2 == 0 {
            (&tfrecord, true)
        } else {
            (&binary, false)
        };
        let mut bytes = mutate(source, &mut rng);
        if rng.random_bool(0.5) {
            reseal(&mut bytes, is_tfrecord, &mut rng);
        }
        let mut ok = false;
        let peak = peak_during(|| {
            ok = if is_tfrecord {
                NasBench101::from_reader("fuzz.tfrecord", &bytes[..]).is_ok()
            } else {
                ModelTable::read_binary(&bytes).is_ok()
            };
        });
        if !ok {
            rejected += 1;
        }
        // Parsed rows, the table and its index are proportional to the input;
        // nothing may be sized by a number read from it.
        let limit = 64 * bytes.len() + (4 << 20);
        assert!(
            peak <= limit,
            "round {round}: {peak} bytes allocated for a {}-byte input",
            bytes.len()
        );
    }
    assert!(
        rejected > 500,
        "most mutations must be caught: {rejected} rejected"
    );
}
