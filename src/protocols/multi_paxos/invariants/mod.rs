//! Safety of the replicated log, one property per file.

mod slot_agreement;
mod state_machine_safety;

pub use slot_agreement::SlotAgreement;
pub use state_machine_safety::StateMachineSafety;
