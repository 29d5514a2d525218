//! Search as a feedback loop for evolutionary AutoML.
//!
//! An algorithm proposes candidates and receives feedback (candidate, fitness); it
//! never calls an evaluator, a hasher or a cache. The techniques of the unified
//! functional hashing paper — the functional equivalence cache (FEC) with its
//! forgetful and aggregating variants, functional change mutation (FCM) and the
//! tabulist — wrap the loop around any algorithm, so every algorithm gets every
//! technique.
//!
//! This crate is being built: see issue 3 of the project for its scope. It knows no
//! concrete search space.
