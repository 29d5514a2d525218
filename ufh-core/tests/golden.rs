//! Golden vectors: the committed hashes of `data/golden.tsv` must not change by
//! accident, on any machine, at any thread count.

#[allow(unreachable_pub, dead_code)] // reason: shared with xtask, which uses every item
#[path = "support/golden_table.rs"]
mod golden_table;

use golden_table::{GoldenRow, compute, parse_table};

const TABLE: &str = include_str!("data/golden.tsv");

fn rows() -> Vec<GoldenRow> {
    let rows = parse_table(TABLE).expect("golden table parses");
    assert!(rows.len() >= 20, "golden table has {} rows", rows.len());
    rows
}

fn check(row: &GoldenRow) {
    let (h64, h128) = compute(row);
    assert_eq!(h64, row.hash64, "64-bit hash of golden row {}", row.name);
    assert_eq!(h128, row.hash128, "128-bit hash of golden row {}", row.name);
}

#[test]
fn golden_vectors_match() {
    rows().iter().for_each(check);
}

#[test]
fn golden_vectors_match_on_many_threads_at_once() {
    let rows = rows();
    std::thread::scope(|scope| {
        for t in 0..8 {
            let rows = &rows;
            scope.spawn(move || {
                // Each thread walks the table from a different start, so the same
                // rows are hashed concurrently in different orders.
                for i in 0..rows.len() {
                    check(&rows[(i + t * 3) % rows.len()]);
                }
            });
        }
    });
}

#[test]
fn rows_that_must_agree_do() {
    let rows = rows();
    let hash = |name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no golden row {name}"))
            .hash64
            .clone()
    };
    // Canonical forms: the table itself shows that these collapse.
    assert_eq!(hash("f64-zero"), hash("f64-negative-zero"));
    assert_eq!(hash("f64-nan-quiet"), hash("f64-nan-payload-negative"));
    assert_eq!(hash("f64-ramp-4096"), hash("f64-ramp-4096-each"));
    assert_eq!(
        hash("f64-one-two-three-m24"),
        hash("f64-one-two-three-m24-perturbed")
    );
    assert_ne!(hash("f64-one-two-three-m24"), hash("f64-three-two-one-m24"));
    assert_ne!(hash("f64-zero"), hash("f64-empty"));
}
