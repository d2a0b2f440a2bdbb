//! Read-only queries without the log (thesis §6.4): ReadIndex, follower reads, and lease reads.
//!
//! With `reads: ReadIndex` or `Lease` the leader numbers its heartbeat *rounds*: every round
//! sends AppendEntries to all followers, each AppendEntries carries the latest round, and each
//! answer echoes it. A majority (the leader included) having answered round `r` or later proves
//! that the leader still led after `r` began: no server can have been elected in a higher term
//! without the votes of a majority, one of which then would have refused our term.
//!
//! ReadIndex (§6.4): "1. If the leader has not yet marked an entry from its current term
//! committed, it waits until it has done so. [...] 2. The leader saves its current commit index
//! in a local variable readIndex. 3. The leader sends a new round of heartbeats, and waits for
//! their acknowledgments from a majority of the cluster. [...] 4. The leader waits for its state
//! machine to advance at least as far as the readIndex [...] 5. Finally, the leader issues the
//! query against its state machine".
//!
//! Lease (§6.4.1): "the leader would use the normal heartbeat mechanism to maintain a lease.
//! Once the leader's heartbeats were acknowledged by a majority of the cluster, it would extend
//! its lease to start + election timeout / clock drift bound". Each round sets a `Lease(r)`
//! timer, so the lease is measured on the leader's own clock, which drifts with the node
//! (`SetDrift`) and stops while the node is paused: both are the hazards of §6.4.1.

use super::{Index, Raft, RaftMsg, RaftTimer, ReadPath, Role, Term};
use crate::protocols::raft::message::Ext;
use crate::sim::client::{ClientRef, ClientReply};
use crate::sim::{Ctx, NodeId};

/// A read the leader has accepted and not answered yet.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct PendingRead {
    /// Who gets the answer.
    pub(super) origin: ReadOrigin,
    /// The heartbeat round started after the read arrived: once a majority acknowledged it,
    /// the leader knows it still led when the read was in progress.
    pub(super) round: u64,
    /// The commit index noted for the read; `None` until the leader has committed an entry of
    /// its own term (before that its commit index may lag the previous leader's).
    pub(super) read_index: Option<Index>,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum ReadOrigin {
    /// A client's get at this leader.
    Client { to: ClientRef, key: String },
    /// A follower's `ReadIndex`, answered with a `ReadIndexResponse`.
    Follower { peer: NodeId, read_id: u64 },
}

/// A get a follower serves itself (`follower_reads`).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct FollowerRead {
    pub(super) read_id: u64,
    pub(super) to: ClientRef,
    pub(super) key: String,
    /// The leader's answer; the follower answers the client once it has applied this far.
    pub(super) read_index: Option<Index>,
}

impl Raft {
    /// Read rounds are counted only for the read paths that need them; with `reads: Log` every
    /// AppendEntries carries round 0, as before rounds existed.
    pub(super) fn counts_rounds(&self) -> bool {
        self.cfg.reads != ReadPath::Log
    }

    /// Starts a heartbeat round: the AppendEntries sent from now on carry it. With leases, the
    /// round's lease starts now and ends when `Lease(round)` fires on this server's clock.
    pub(super) fn start_round(&mut self, ctx: &mut Ctx<Self>) {
        debug_assert!(self.role == Role::Leader && self.counts_rounds());
        self.round += 1;
        self.acked_round[self.id] = self.round;
        if self.cfg.reads == ReadPath::Lease {
            self.lease_rounds.insert(self.round);
            ctx.set_timer(RaftTimer::Lease(self.round), self.cfg.lease_duration());
        }
    }

    /// The highest round acknowledged by a majority (the leader included).
    pub(super) fn confirmed_round(&self) -> u64 {
        let mut acked = self.acked_round.clone();
        acked.sort_unstable_by(|a, b| b.cmp(a));
        acked[self.majority() - 1]
    }

    /// Has this leader committed an entry of its own term? Until then its commit index may be
    /// behind entries the previous leader committed (§6.4 step 1, §8).
    pub(super) fn committed_in_term(&self) -> bool {
        self.term_at(self.commit_index) == Some(self.current_term)
    }

    /// Lease: a round acknowledged by a majority whose lease timer has not fired, an entry of
    /// this term committed, and no transfer started in this term.
    pub fn holds_lease(&self) -> bool {
        self.role == Role::Leader
            && self.cfg.reads == ReadPath::Lease
            && !self.lease_forfeited
            && self.committed_in_term()
            && self
                .lease_rounds
                .first()
                .is_some_and(|&r| r <= self.confirmed_round())
    }

    /// A get at the leader with `reads: ReadIndex` or `Lease`.
    pub(super) fn leader_read(&mut self, to: ClientRef, key: String, ctx: &mut Ctx<Self>) {
        if self.holds_lease() {
            ctx.count("lease_reads", 1);
            let value = self.kv.get(&key).map(str::to_string);
            ctx.reply_to_client(to, ClientReply::Ok { value });
            return;
        }
        self.accept_read(ReadOrigin::Client { to, key }, ctx);
    }

    /// §6.4 steps 1-3: note the read index (once a commit of this term allows it) and send a
    /// new round of heartbeats.
    fn accept_read(&mut self, origin: ReadOrigin, ctx: &mut Ctx<Self>) {
        ctx.count("read_index_reads", 1);
        let read_index = self.committed_in_term().then_some(self.commit_index);
        self.start_round(ctx);
        self.pending_reads.push(PendingRead {
            origin,
            round: self.round,
            read_index,
        });
        self.broadcast_append(ctx);
        self.serve_reads(ctx); // a one-server cluster confirms at once
    }

    /// Answers every pending read whose round a majority acknowledged, with the read index
    /// applied (§6.4 steps 4-5); notes the read index of reads that waited for the term's
    /// first commit.
    pub(super) fn serve_reads(&mut self, ctx: &mut Ctx<Self>) {
        if self.pending_reads.is_empty() {
            return;
        }
        debug_assert!(self.role == Role::Leader);
        if self.committed_in_term() {
            for r in &mut self.pending_reads {
                r.read_index.get_or_insert(self.commit_index);
            }
        }
        let confirmed = self.confirmed_round();
        let applied = self.last_applied;
        let (ready, waiting): (Vec<PendingRead>, Vec<PendingRead>) =
            std::mem::take(&mut self.pending_reads)
                .into_iter()
                .partition(|r| r.round <= confirmed && r.read_index.is_some_and(|i| i <= applied));
        self.pending_reads = waiting;
        for r in ready {
            let read_index = r.read_index.expect("partitioned on it");
            match r.origin {
                ReadOrigin::Client { to, key } => {
                    let value = self.kv.get(&key).map(str::to_string);
                    ctx.reply_to_client(to, ClientReply::Ok { value });
                }
                ReadOrigin::Follower { peer, read_id } => ctx.send(
                    peer,
                    RaftMsg::ReadIndexResponse {
                        term: self.current_term,
                        read_id,
                        read_index,
                    },
                ),
            }
        }
    }

    /// A follower's get with `follower_reads`: ask the leader for a read index.
    pub(super) fn follower_read(&mut self, to: ClientRef, key: String, ctx: &mut Ctx<Self>) {
        let Some(leader) = self.leader_id else {
            ctx.count("redirects", 1);
            ctx.reply_to_client(to, ClientReply::Redirect { leader: None });
            return;
        };
        self.next_read_id += 1;
        let read_id = self.next_read_id;
        self.follower_reads.push(FollowerRead {
            read_id,
            to,
            key,
            read_index: None,
        });
        ctx.count("follower_reads", 1);
        ctx.send(
            leader,
            RaftMsg::ReadIndex {
                term: self.current_term,
                read_id,
            },
        );
    }

    /// ReadIndex receiver: a leader of the same term treats it as its own read.
    pub(super) fn handle_read_index(
        &mut self,
        from: NodeId,
        term: Term,
        read_id: u64,
        ctx: &mut Ctx<Self>,
    ) {
        if term > self.current_term {
            self.become_follower(term, None, ctx);
        }
        if self.role != Role::Leader || term != self.current_term || self.transfer.is_some() {
            return; // the follower's client times out and retries elsewhere
        }
        self.accept_read(
            ReadOrigin::Follower {
                peer: from,
                read_id,
            },
            ctx,
        );
    }

    /// The leader's read index for one of our reads: answer once applied that far.
    pub(super) fn handle_read_index_response(
        &mut self,
        term: Term,
        read_id: u64,
        read_index: Index,
        ctx: &mut Ctx<Self>,
    ) {
        if term > self.current_term {
            self.become_follower(term, None, ctx);
        }
        if let Some(r) = self
            .follower_reads
            .iter_mut()
            .find(|r| r.read_id == read_id)
        {
            r.read_index = Some(read_index);
        }
        self.serve_follower_reads(ctx);
    }

    /// Answers the follower reads whose read index this server has applied.
    pub(super) fn serve_follower_reads(&mut self, ctx: &mut Ctx<Self>) {
        if self.follower_reads.is_empty() {
            return;
        }
        let applied = self.last_applied;
        let (ready, waiting): (Vec<FollowerRead>, Vec<FollowerRead>) =
            std::mem::take(&mut self.follower_reads)
                .into_iter()
                .partition(|r| r.read_index.is_some_and(|i| i <= applied));
        self.follower_reads = waiting;
        for r in ready {
            let value = self.kv.get(&r.key).map(str::to_string);
            ctx.reply_to_client(r.to, ClientReply::Ok { value });
        }
    }

    /// Lease timer of round `r` fired: that round no longer gives a lease.
    pub(super) fn on_lease_timer(&mut self, round: u64) {
        self.lease_rounds.remove(&round);
    }

    /// An AppendEntries answer in our term acknowledges its round.
    pub(super) fn acknowledge_round(&mut self, from: NodeId, round: Ext<u64>, ctx: &mut Ctx<Self>) {
        if !self.counts_rounds() {
            return;
        }
        self.acked_round[from] = self.acked_round[from].max(round.0);
        self.serve_reads(ctx);
    }
}
