//! Leader election (§5.2, §5.4.1): RequestVote, PreVote (thesis §9.6), and ignoring
//! RequestVote while a leader is known (thesis §4.2.3).

use super::{Index, Raft, RaftMsg, Role, Term};
use crate::sim::{Ctx, NodeId};

impl Raft {
    /// §5.4.1: "Raft determines which of two logs is more up-to-date by comparing the index
    /// and term of the last entries in the logs. If the logs have last entries with different
    /// terms, then the log with the later term is more up-to-date. If the logs end with the
    /// same term, then whichever log is longer is more up-to-date."
    pub fn is_up_to_date(&self, last_log_index: Index, last_log_term: Term) -> bool {
        (last_log_term, last_log_index) >= (self.last_log_term(), self.last_log_index())
    }

    /// `ignore_votes_with_leader`: the RequestVote below is ignored, its term not adopted (also
    /// what the Higher Term Adopted checker's ghost variable skips).
    pub(super) fn ignores_vote(&self, term: Term, transfer: bool) -> bool {
        self.cfg.ignore_votes_with_leader
            && term > self.current_term
            && !transfer
            && (self.role == Role::Leader || self.leader_recent)
    }

    /// RequestVote receiver (Figure 2):
    /// 1. Reply false if term < currentTerm.
    /// 2. If votedFor is null or candidateId, and candidate's log is at least as up-to-date as
    ///    receiver's log, grant vote.
    ///
    /// With `ignore_votes_with_leader` (thesis §4.2.3): "if a server receives a RequestVote
    /// request within the minimum election timeout of hearing from a current leader, it does
    /// not update its term or grant its vote" (it does not answer either, as in etcd); a leader
    /// hears itself. A transfer's election (`transfer`, thesis §3.10) is exempt.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_request_vote(
        &mut self,
        from: NodeId,
        term: Term,
        candidate_id: NodeId,
        last_log_index: Index,
        last_log_term: Term,
        transfer: bool,
        ctx: &mut Ctx<Self>,
    ) {
        if self.ignores_vote(term, transfer) {
            ctx.note(format!(
                "ignores RequestVote from n{} for term {term}: a leader was heard recently",
                candidate_id + 1
            ));
            ctx.count("votes_ignored", 1);
            return;
        }
        if term > self.current_term {
            self.become_follower(term, None, ctx);
        }
        let log_ok =
            self.cfg.skip_up_to_date_check || self.is_up_to_date(last_log_index, last_log_term);
        let grant =
            term == self.current_term && self.voted_for.is_none_or(|v| v == candidate_id) && log_ok;
        if grant {
            if self.cfg.skip_up_to_date_check && !self.is_up_to_date(last_log_index, last_log_term)
            {
                ctx.note(format!(
                    "BUG skip_up_to_date_check: votes for n{} whose log is behind",
                    candidate_id + 1
                ));
            }
            self.voted_for = Some(candidate_id);
            self.persist(ctx);
            self.reset_election_timer(ctx);
        }
        ctx.send(
            from,
            RaftMsg::RequestVoteResponse {
                term: self.current_term,
                vote_granted: grant,
            },
        );
    }

    /// Candidates: "If votes received from majority of servers: become leader."
    pub(super) fn handle_request_vote_response(
        &mut self,
        from: NodeId,
        term: Term,
        vote_granted: bool,
        ctx: &mut Ctx<Self>,
    ) {
        if term > self.current_term {
            self.become_follower(term, None, ctx);
            return;
        }
        if self.role != Role::Candidate || term < self.current_term || !vote_granted {
            return; // stale, or a refusal in our own term
        }
        self.votes.insert(from);
        if self.votes.len() >= self.majority() {
            self.become_leader(ctx);
        }
    }

    /// PreVote receiver: grant if the proposed term is newer than ours, the sender's log is at
    /// least as up-to-date, and we have not heard from a leader within the minimum election
    /// timeout. Nothing is changed or persisted: a pre-vote is only a question.
    pub(super) fn handle_pre_vote(
        &mut self,
        from: NodeId,
        term: Term,
        _candidate_id: NodeId,
        last_log_index: Index,
        last_log_term: Term,
        ctx: &mut Ctx<Self>,
    ) {
        let leader_heard = self.role == Role::Leader
            || self
                .last_leader_contact
                .is_some_and(|t| ctx.now < t + self.cfg.election_timeout_min);
        let log_ok =
            self.cfg.skip_up_to_date_check || self.is_up_to_date(last_log_index, last_log_term);
        let grant = term > self.current_term && log_ok && !leader_heard;
        ctx.send(
            from,
            RaftMsg::PreVoteResponse {
                term: if grant { term } else { self.current_term },
                vote_granted: grant,
            },
        );
    }

    /// Pre-candidates: a majority of pre-votes starts the real election; a refusal carrying a
    /// newer term makes us a follower of that term.
    pub(super) fn handle_pre_vote_response(
        &mut self,
        from: NodeId,
        term: Term,
        vote_granted: bool,
        ctx: &mut Ctx<Self>,
    ) {
        if !vote_granted {
            if term > self.current_term {
                self.become_follower(term, None, ctx);
            }
            return;
        }
        if self.role != Role::PreCandidate || term != self.current_term + 1 {
            return;
        }
        self.votes.insert(from);
        if self.votes.len() >= self.majority() {
            self.become_candidate(false, ctx);
        }
    }
}
