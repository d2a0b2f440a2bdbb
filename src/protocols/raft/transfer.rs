//! Leadership transfer (thesis §3.10), scheduled by the scenario's `transfers`.
//!
//! "1. The prior leader stops accepting new client requests. 2. The prior leader fully updates
//! the target server's log to match its own, using the normal log replication mechanism.
//! 3. The prior leader sends a TimeoutNow request to the target server. This request has the
//! same effect as the target server's election timer firing: the target server starts a new
//! election (incrementing its term and becoming a candidate)." And: "If the transfer does not
//! complete within about an election timeout, the prior leader aborts the transfer and resumes
//! accepting client requests."

use super::{Raft, RaftMsg, RaftTimer, Role, Term};
use crate::sim::{Ctx, NodeId};

/// A transfer in progress at the leader.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct TransferState {
    pub(super) target: NodeId,
    /// TimeoutNow is sent once, when the target's log matches ours.
    pub(super) timeout_now_sent: bool,
}

impl Raft {
    /// The number of scheduled transfers due by now: a leader elected later does not replay
    /// them.
    pub(super) fn transfers_due(&self, now: crate::sim::SimTime) -> usize {
        self.cfg.transfers.iter().filter(|t| t.at <= now).count()
    }

    /// At a heartbeat: starts the latest scheduled transfer that fell due since this server
    /// became leader.
    pub(super) fn start_due_transfer(&mut self, ctx: &mut Ctx<Self>) {
        let due = self.transfers_due(ctx.now);
        if due <= self.next_transfer {
            return;
        }
        let target = self.cfg.transfers[due - 1].to - 1;
        self.next_transfer = due;
        if target == self.id || self.transfer.is_some() {
            ctx.note(format!(
                "transfer to n{} skipped: already leader or transferring",
                target + 1
            ));
            return;
        }
        ctx.note(format!("starts leadership transfer to n{}", target + 1));
        ctx.count("transfers", 1);
        self.transfer = Some(TransferState {
            target,
            timeout_now_sent: false,
        });
        // A TimeoutNow lets the target be elected without waiting for anyone's election
        // timeout, so no lease of this term can be trusted any more.
        self.lease_forfeited = true;
        ctx.set_timer(RaftTimer::TransferTimeout, self.cfg.election_timeout_max);
        self.continue_transfer(ctx);
    }

    /// Step 2-3: once the target holds our whole log, send it TimeoutNow; until then,
    /// replicate to it.
    pub(super) fn continue_transfer(&mut self, ctx: &mut Ctx<Self>) {
        let Some(t) = &self.transfer else { return };
        if t.timeout_now_sent {
            return;
        }
        let target = t.target;
        if self.match_index[target] == self.last_log_index() {
            ctx.send(
                target,
                RaftMsg::TimeoutNow {
                    term: self.current_term,
                },
            );
            if let Some(t) = &mut self.transfer {
                t.timeout_now_sent = true;
            }
        } else {
            self.send_append(target, ctx);
        }
    }

    /// "If the transfer does not complete within about an election timeout, the prior leader
    /// aborts the transfer and resumes accepting client requests."
    pub(super) fn on_transfer_timeout(&mut self, ctx: &mut Ctx<Self>) {
        if self.role != Role::Leader || self.transfer.is_none() {
            return;
        }
        self.transfer = None;
        ctx.note("leadership transfer aborted: still leader after an election timeout");
        ctx.count("transfers_aborted", 1);
    }

    /// TimeoutNow receiver: "the target server starts a new election", at once, without
    /// PreVote and with voters told to ignore their recent leader.
    pub(super) fn handle_timeout_now(&mut self, term: Term, ctx: &mut Ctx<Self>) {
        if term > self.current_term {
            self.become_follower(term, None, ctx);
        }
        if term != self.current_term || self.role == Role::Leader {
            return; // stale
        }
        ctx.note("TimeoutNow: starts an election at once");
        self.election_timer = None;
        self.become_candidate(true, ctx);
    }
}
