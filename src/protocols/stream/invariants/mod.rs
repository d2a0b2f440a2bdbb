//! The stream's promises, one checker per file, checked after every event:
//!
//! | config | promise | checker | bug switch that breaks it |
//! |---|---|---|---|
//! | `duplicate_window` > 0 | a publish retried within the window is stored once; every acknowledged sequence holds its id | Published Once | `bug_no_dedup` |
//! | always | no consumer applies a stream sequence twice | Effectively Once | `bug_consumer_no_dedup` |
//!
//! A retry *after* the window is stored again: that is the window's documented limit, counted
//! (`duplicates_stored`) and not flagged. Both read durable state only (the broker's stream,
//! the producers' acknowledged logs, the consumers' applied logs), with a cursor per node.

mod effectively_once;
mod published_once;

pub use effectively_once::EffectivelyOnce;
pub use published_once::PublishedOnce;

use super::{Stream, StreamConfig};
use crate::protocols::queue::invariants::Named;
use crate::sim::{Invariant, SimTime};

impl Named for Stream {
    fn node_name(&self) -> &str {
        &self.name
    }
}

/// The checkers of what `cfg` promises.
pub fn all(cfg: &StreamConfig, nodes: usize) -> Vec<Box<dyn Invariant<Stream>>> {
    let mut v: Vec<Box<dyn Invariant<Stream>>> = Vec::new();
    if cfg.duplicate_window > SimTime::ZERO {
        v.push(Box::new(PublishedOnce::new(nodes, cfg.duplicate_window)));
    }
    v.push(Box::new(EffectivelyOnce::new(nodes)));
    v
}
