//! Search spaces and their evaluators for `ufh`: NAS-Bench-101 (table look-ups),
//! AutoML-Zero (evolved programs), AutoRL (evolved RL loss graphs) and MNAS
//! (block-structured CNNs), each with the hashable outputs its functional hash uses.
//!
//! This crate is being built: see issues 4, 5 and 7 of the project for its scope. It
//! knows no concrete search algorithm.
