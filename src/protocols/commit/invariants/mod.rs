//! The safety properties of atomic commitment, one file each, shared by 2PC and 3PC: both keep
//! a [`Wal`](super::Wal) as their durable state, and the checkers read only the logs, with a
//! cursor per node (each event is checked against the records appended since the last one).

pub mod atomicity;
pub mod validity;
