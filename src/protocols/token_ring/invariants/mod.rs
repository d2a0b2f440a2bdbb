//! The token ring's safety properties, one file each.

mod bounded_waiting;
mod mutual_exclusion;
mod unique_valid_token;

pub use bounded_waiting::BoundedWaiting;
pub use mutual_exclusion::MutualExclusion;
pub use unique_valid_token::UniqueValidToken;
