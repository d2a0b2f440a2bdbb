//! Gossip's safety properties, one file each.

mod version_monotonicity;
mod version_uniqueness;

pub use version_monotonicity::VersionMonotonicity;
pub use version_uniqueness::VersionUniqueness;
