//! The properties of Zab's broadcast (DSN 2011, section III), one file each.

mod agreement;
mod integrity;
mod one_leader_per_epoch;
mod primary_order;

pub use agreement::Agreement;
pub use integrity::Integrity;
pub use one_leader_per_epoch::OneLeaderPerEpoch;
pub use primary_order::PrimaryOrder;
