//! Consistency of what clients observed over time, judged as Jepsen judges
//! it: [`linearizable`] checks single-key operations against a sequential
//! model; [`isolation`] finds the dependency cycles (G0 to G2) among
//! transactions' reads and writes. Both are pure functions of a history.

pub mod isolation;
pub mod linearizable;
