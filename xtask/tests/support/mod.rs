//! What the integration tests of xtask share.

/// Whether the slow test tier runs: tests that kill processes, restart Redis,
/// train networks or run whole figures check `UFH_SLOW_TESTS=1` (which `.ci/run`
/// sets) and otherwise return at once, so that `cargo test` alone runs the fast
/// tier.
pub(crate) fn slow_tier() -> bool {
    let on = std::env::var_os("UFH_SLOW_TESTS").is_some_and(|v| v == "1");
    if !on {
        eprintln!("slow tier: skipped (UFH_SLOW_TESTS=1 runs it)");
    }
    on
}
