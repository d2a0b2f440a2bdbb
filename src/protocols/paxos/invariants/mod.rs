//! The safety properties of "Paxos Made Simple", section 2.1, one file each.

mod learned_was_proposed;
mod promise_respected;
mod single_value_chosen;

pub use learned_was_proposed::LearnedWasProposed;
pub use promise_respected::PromiseRespected;
pub use single_value_chosen::SingleValueChosen;
