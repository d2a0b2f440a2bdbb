//! The safety properties of atomic commitment, one file each, shared by 2PC and 3PC: both keep
//! a [`Wal`](super::Wal) as their durable state, and the checkers read only the logs, with a
//! cursor per node (each event is checked against the records appended since the last one).

pub mod atomicity;
pub mod validity;

use crate::sim::NodeId;
use std::ops::Range;

/// The nodes whose logs may have grown in the last event: the touched node, or every node when
/// the event was an action (a restart writes from `on_restart`).
pub(crate) fn scanned(touched: Option<NodeId>, nodes: usize) -> Range<NodeId> {
    match touched {
        Some(n) => n..n + 1,
        None => 0..nodes,
    }
}
