//! The properties of Zab's broadcast (DSN 2011, section III), one file each.

mod agreement;
mod epoch_acked_once;
mod established_by_quorum;
mod follower_prefix;
mod integrity;
mod one_leader_per_epoch;
mod primary_order;

pub use agreement::Agreement;
pub use epoch_acked_once::EpochAckedOnce;
pub use established_by_quorum::EstablishedByQuorum;
pub use follower_prefix::FollowerPrefix;
pub use integrity::Integrity;
pub use one_leader_per_epoch::OneLeaderPerEpoch;
pub use primary_order::PrimaryOrder;
