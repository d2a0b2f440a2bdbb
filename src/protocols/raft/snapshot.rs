//! Log compaction by snapshots (§7 of the extended paper, Figure 13), with
//! `snapshot_threshold`.
//!
//! "Each server takes snapshots independently, covering just the committed entries in its log.
//! [...] the state machine writes its current state to the snapshot. Raft also retains a small
//! amount of metadata in the snapshot: the last included index is the index of the last entry
//! in the log that the snapshot replaces (the last entry the state machine had applied), and
//! the last included term is the term of this entry." Once `snapshot_threshold` entries have
//! been applied beyond the last snapshot, the server snapshots its state machine (the map and
//! the client sessions of §8) at `lastApplied` and drops the log up to there. It does so in a
//! step of its own (the `Compact` timer, due at once), as etcd snapshots asynchronously: the
//! entries just applied are still in the log when the checkers look after the step that
//! applied them. Indices stay absolute: `log[0]` is entry `lastIncludedIndex + 1`, and every
//! access goes through `Raft::entry`, `Raft::term_at` and the other helpers in `mod.rs`.
//!
//! "The leader uses a new RPC called InstallSnapshot to send snapshots to followers that are
//! too far behind": one whose nextIndex is at or below the leader's last included index, since
//! the entries it needs are gone. The snapshot goes whole in one message (Figure 13's
//! `offset`/`done` chunks are not built). Receiver implementation (Figure 13):
//! 1. Reply immediately if term < currentTerm.
//! 2. Create new snapshot file if first chunk (offset is 0).
//! 3. Write data into snapshot file at given offset.
//! 4. Reply and wait for more data chunks if done is false.
//! 5. Save snapshot file, discard any existing or partial snapshot with a smaller index.
//! 6. If existing log entry has same index and term as snapshot's last included entry, retain
//!    log entries following it and reply.
//! 7. Discard the entire log.
//! 8. Reset state machine using snapshot contents (and load snapshot's cluster configuration).
//!
//! Steps 2-4 vanish without chunks. The membership is fixed here, so there is no configuration
//! to load. A snapshot no newer than the receiver's own is answered and otherwise ignored. In
//! step 6 the state machine is reset too when it had not applied that far. The snapshot and the
//! log are persisted together, so a restarted server loads its state machine from the snapshot
//! and replays the log after it.

use super::{Ext, Index, KvStore, Raft, RaftMsg, RaftTimer, Role, Term};
use crate::sim::{Ctx, NodeId, SimTime};
use std::sync::Arc;

/// A snapshot of the state machine and the position in the log it stands for. The default
/// (index 0, term 0, empty state) is "no snapshot": the log starts at entry 1.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Snapshot {
    /// The last entry the snapshot replaces (the last one the state machine had applied).
    pub last_included_index: Index,
    /// Its term: the consistency check of the entry after it needs it.
    pub last_included_term: Term,
    /// The state machine after applying entries `1..=last_included_index`, client sessions
    /// included (so a retried request is still recognised after compaction). Shared, so the
    /// persisted copy and InstallSnapshot do not copy it.
    pub state: Arc<KvStore>,
}

impl Raft {
    /// After applying: once `snapshot_threshold` entries were applied beyond the last snapshot,
    /// schedule the compaction (a step of its own, at once).
    pub(super) fn schedule_compaction(&mut self, ctx: &mut Ctx<Self>) {
        let Some(threshold) = self.cfg.snapshot_threshold else {
            return;
        };
        let beyond = self
            .last_applied
            .saturating_sub(self.snapshot.last_included_index);
        if beyond >= threshold as Index {
            ctx.set_timer(RaftTimer::Compact, SimTime::ZERO);
        }
    }

    /// The `Compact` timer: snapshot the state machine at `lastApplied` and discard the log up
    /// to there (entries applied are committed, so the snapshot covers committed entries only).
    pub(super) fn on_compact(&mut self, ctx: &mut Ctx<Self>) {
        let upto = self.last_applied;
        if upto <= self.snapshot.last_included_index {
            return; // a snapshot installed meanwhile already covers it
        }
        debug_assert!(upto <= self.commit_index, "applied entries are committed");
        let term = self.term_at(upto).expect("applied entries are in the log");
        self.discard_through(upto);
        self.snapshot = Snapshot {
            last_included_index: upto,
            last_included_term: term,
            state: Arc::new(self.kv.clone()),
        };
        self.persist(ctx);
        ctx.note(format!("snapshot up to {upto}@t{term}; log compacted"));
        ctx.count("snapshots_taken", 1);
    }

    /// Drops the entries up to `index` (they are in a snapshot) and keeps those after it.
    fn discard_through(&mut self, index: Index) {
        let k =
            (index.saturating_sub(self.snapshot.last_included_index) as usize).min(self.log.len());
        self.log.drain(..k);
    }

    /// Leaders: the follower needs entries that are only in our snapshot. Sent again only after
    /// a heartbeat interval without an answer (a lost one is retried by a later heartbeat).
    pub(super) fn send_snapshot(&mut self, peer: NodeId, ctx: &mut Ctx<Self>) {
        debug_assert!(self.role == Role::Leader && peer != self.id);
        if let Some(at) = self.snapshot_sent_at[peer]
            && ctx.now < at + self.cfg.heartbeat_interval
        {
            return;
        }
        self.snapshot_sent_at[peer] = Some(ctx.now);
        ctx.send(
            peer,
            RaftMsg::InstallSnapshot {
                term: self.current_term,
                leader_id: self.id,
                last_included_index: self.snapshot.last_included_index,
                last_included_term: self.snapshot.last_included_term,
                data: self.snapshot.state.clone(),
                round: Ext(self.round),
            },
        );
        ctx.count("snapshots_sent", 1);
    }

    /// InstallSnapshot receiver (Figure 13, without chunks; see the module header).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_install_snapshot(
        &mut self,
        from: NodeId,
        term: Term,
        leader_id: NodeId,
        last_included_index: Index,
        last_included_term: Term,
        data: Arc<KvStore>,
        round: Ext<u64>,
        ctx: &mut Ctx<Self>,
    ) {
        let reply = |me: &Self, match_index: Index, ctx: &mut Ctx<Self>| {
            ctx.send(
                from,
                RaftMsg::InstallSnapshotResponse {
                    term: me.current_term,
                    match_index,
                    round,
                },
            );
        };
        // 1. "Reply immediately if term < currentTerm."
        if term < self.current_term {
            reply(self, self.last_log_index(), ctx);
            return;
        }
        if !self.heed_leader(term, leader_id, ctx) {
            return;
        }

        // 5. "discard any existing or partial snapshot with a smaller index": ours is not
        // smaller, so the leader's is the one discarded.
        if last_included_index <= self.snapshot.last_included_index {
            reply(self, self.snapshot.last_included_index, ctx);
            return;
        }
        if self.term_at(last_included_index) == Some(last_included_term) {
            // 6. "If existing log entry has same index and term as snapshot's last included
            // entry, retain log entries following it and reply."
            self.discard_through(last_included_index);
            ctx.note(format!(
                "snapshot up to {last_included_index}@t{last_included_term} installed; keeps the entries after it"
            ));
        } else {
            // 7. "Discard the entire log."
            self.log.clear();
            ctx.note(format!(
                "snapshot up to {last_included_index}@t{last_included_term} installed; log discarded"
            ));
        }
        self.snapshot = Snapshot {
            last_included_index,
            last_included_term,
            state: data,
        };
        // 8. "Reset state machine using snapshot contents", unless it had applied that far.
        if self.last_applied < last_included_index {
            self.kv = (*self.snapshot.state).clone();
            self.last_applied = last_included_index;
        }
        self.commit_index = self.commit_index.max(last_included_index);
        self.persist(ctx);
        ctx.count("snapshots_installed", 1);
        self.apply_committed(ctx);
        reply(self, last_included_index, ctx);
    }

    /// Leaders: the follower holds our log up to `match_index`; go on from there.
    pub(super) fn handle_install_snapshot_response(
        &mut self,
        from: NodeId,
        term: Term,
        match_index: Index,
        round: Ext<u64>,
        ctx: &mut Ctx<Self>,
    ) {
        if term > self.current_term {
            self.become_follower(term, None, ctx);
            return;
        }
        if self.role != Role::Leader || term < self.current_term {
            return; // a stale answer
        }
        self.recent_active.insert(from);
        self.snapshot_sent_at[from] = None;
        self.acknowledge_round(from, round, ctx);
        let m = match_index.min(self.last_log_index());
        self.match_index[from] = self.match_index[from].max(m);
        self.next_index[from] = self.next_index[from].max(m + 1);
        self.advance_commit_index(ctx);
        if self.transfer.as_ref().is_some_and(|t| t.target == from) {
            self.continue_transfer(ctx);
        } else if self.next_index[from] <= self.last_log_index() {
            self.send_append(from, ctx);
        }
    }
}
