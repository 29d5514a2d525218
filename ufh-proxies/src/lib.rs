//! The EZNAS engine: zero-cost proxies for neural architecture scoring, evolved as
//! expression trees over network statistics and scored by Kendall τ, with `ufh-core`
//! recognising trees that compute the same function.
//!
//! This crate is being built: its issue will fill it.
