//! distsim: a deterministic distributed-systems simulator.
//!
//! The core (`sim`, `protocols`, `scenario`, `check`) never depends on Bevy; the `gui` feature
//! adds the desktop app.

pub mod bench;
pub mod bundled;
pub mod cli;
pub mod export;
#[cfg(feature = "gui")]
pub mod gui;
pub mod minimize;
pub mod protocols;
pub mod registry;
pub mod scenario;
pub mod sim;
pub mod testing;
pub mod visual;
