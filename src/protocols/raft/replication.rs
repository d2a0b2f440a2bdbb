//! Log replication (§5.3), the commitment rule (§5.4.2), applying to the state machine, and
//! client requests (§8).

use super::{Ext, Index, KvCommand, LogEntry, Raft, RaftMsg, ReadPath, Role, Term};
use crate::sim::client::{ClientReply, ClientRequest, Op};
use crate::sim::{Ctx, NodeId};
use std::sync::Arc;

impl Raft {
    /// Sends `peer` the entries from its nextIndex on (at most `max_entries_per_append`), or an
    /// empty heartbeat when it has them all; or our snapshot if the entries it needs are gone
    /// from our log (§7: "the leader must occasionally send snapshots to followers that lag
    /// behind").
    pub(super) fn send_append(&mut self, peer: NodeId, ctx: &mut Ctx<Self>) {
        debug_assert!(self.role == Role::Leader && peer != self.id);
        let next = self.next_index[peer].clamp(1, self.last_log_index() + 1);
        if next <= self.snapshot.last_included_index {
            self.send_snapshot(peer, ctx);
            return;
        }
        let prev_log_index = next - 1;
        let prev_log_term = self
            .term_at(prev_log_index)
            .expect("prev is the snapshot's last entry or within the log");
        let entries = self
            .entries_from(next, self.cfg.max_entries_per_append)
            .to_vec();
        ctx.send(
            peer,
            RaftMsg::AppendEntries {
                term: self.current_term,
                leader_id: self.id,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit: self.commit_index,
                round: Ext(self.round),
            },
        );
    }

    pub(super) fn broadcast_append(&mut self, ctx: &mut Ctx<Self>) {
        for peer in 0..self.nodes {
            if peer != self.id {
                self.send_append(peer, ctx);
            }
        }
    }

    /// AppendEntries receiver (Figure 2):
    /// 1. Reply false if term < currentTerm.
    /// 2. Reply false if log doesn't contain an entry at prevLogIndex whose term matches
    ///    prevLogTerm.
    /// 3. If an existing entry conflicts with a new one (same index but different terms),
    ///    delete the existing entry and all that follow it.
    /// 4. Append any new entries not already in the log.
    /// 5. If leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of last new
    ///    entry).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_append_entries(
        &mut self,
        from: NodeId,
        term: Term,
        leader_id: NodeId,
        mut prev_log_index: Index,
        mut prev_log_term: Term,
        mut entries: Vec<LogEntry>,
        leader_commit: Index,
        round: Ext<u64>,
        ctx: &mut Ctx<Self>,
    ) {
        let refuse = |me: &Self, ctx: &mut Ctx<Self>| {
            ctx.send(
                from,
                RaftMsg::AppendEntriesResponse {
                    term: me.current_term,
                    success: false,
                    match_index: me.last_log_index(),
                    round,
                },
            );
        };
        if term < self.current_term {
            refuse(self, ctx);
            return;
        }
        if !self.heed_leader(term, leader_id, ctx) {
            return;
        }

        // "Index of last new entry": the end of what this request covered, all of which now
        // matches the leader's log.
        let mut last_new = prev_log_index + entries.len() as Index;
        let snap = self.snapshot.last_included_index;
        if prev_log_index < snap {
            // Entries up to our snapshot are committed, so the leader has them too (Leader
            // Completeness): skip those, and check the rest against the snapshot's last entry.
            let covered = ((snap - prev_log_index) as usize).min(entries.len());
            entries.drain(..covered);
            prev_log_index = snap;
            prev_log_term = self.snapshot.last_included_term;
            last_new = last_new.max(snap);
        }
        if self.term_at(prev_log_index) != Some(prev_log_term) {
            refuse(self, ctx);
            return;
        }
        let mut changed = false;
        for (k, entry) in entries.into_iter().enumerate() {
            let index = prev_log_index + 1 + k as Index;
            match self.term_at(index) {
                Some(t) if t == entry.term => {} // already there
                Some(_) if self.cfg.no_conflict_truncation => {
                    // BUG: keep our conflicting entry, as if it were the leader's.
                    ctx.note(format!(
                        "BUG no_conflict_truncation: keeps its entry at {index} instead of the leader's"
                    ));
                }
                Some(_) => {
                    if index <= self.commit_index {
                        ctx.note(format!("deletes committed entry {index}"));
                    }
                    self.truncate_from(index);
                    self.log.push(entry);
                    ctx.count("truncations", 1);
                    changed = true;
                }
                None => {
                    self.log.push(entry);
                    changed = true;
                }
            }
        }
        if changed {
            self.persist(ctx);
        }
        if leader_commit > self.commit_index {
            self.commit_index = self.commit_index.max(leader_commit.min(last_new));
            self.apply_committed(ctx);
        }
        ctx.send(
            from,
            RaftMsg::AppendEntriesResponse {
                term: self.current_term,
                success: true,
                match_index: last_new,
                round,
            },
        );
    }

    /// Leaders: on success update nextIndex and matchIndex and try to commit; on failure
    /// decrement nextIndex and retry.
    pub(super) fn handle_append_entries_response(
        &mut self,
        from: NodeId,
        term: Term,
        success: bool,
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
        self.acknowledge_round(from, round, ctx);
        if success {
            let m = match_index.min(self.last_log_index());
            self.match_index[from] = self.match_index[from].max(m);
            self.next_index[from] = self.next_index[from].max(m + 1);
            self.advance_commit_index(ctx);
            if self.transfer.as_ref().is_some_and(|t| t.target == from) {
                self.continue_transfer(ctx);
            } else if self.next_index[from] <= self.last_log_index() {
                self.send_append(from, ctx); // more to send: keep a lagging follower moving
            }
        } else {
            let next = self.next_index[from];
            self.next_index[from] = next.saturating_sub(1).min(match_index + 1).max(1);
            self.send_append(from, ctx);
        }
    }

    /// "If there exists an N such that N > commitIndex, a majority of matchIndex[i] ≥ N, and
    /// log[N].term == currentTerm: set commitIndex = N."
    pub(super) fn advance_commit_index(&mut self, ctx: &mut Ctx<Self>) {
        debug_assert!(self.role == Role::Leader);
        let old = self.commit_index;
        let mut n = self.last_log_index();
        while n > old {
            let current_term = self.term_at(n) == Some(self.current_term);
            if !current_term && !self.cfg.commit_previous_term_by_count {
                break; // older entries are committed only through one of our own term
            }
            let replicas = self.match_index.iter().filter(|&&m| m >= n).count();
            if replicas >= self.majority() {
                if !current_term {
                    ctx.note(format!(
                        "BUG commit_previous_term_by_count: commits entry {n} of term {} by counting",
                        self.term_at(n).unwrap_or(0)
                    ));
                }
                self.commit_index = n;
                break;
            }
            n -= 1;
        }
        if self.commit_index > old {
            ctx.count("commits", self.commit_index - old);
            self.apply_committed(ctx);
        }
    }

    /// "If commitIndex > lastApplied: increment lastApplied, apply log[lastApplied] to state
    /// machine." The leader answers the client whose command it applied.
    pub(super) fn apply_committed(&mut self, ctx: &mut Ctx<Self>) {
        let upto = self.commit_index.min(self.last_log_index());
        while self.last_applied < upto {
            self.last_applied += 1;
            // Positions count from the snapshot (fields borrowed apart: the log and the map).
            let p = self.last_applied - self.snapshot.last_included_index - 1;
            let entry = &self.log[p as usize];
            let reply = self.kv.apply(entry);
            if self.role == Role::Leader
                && let (Some(to), Some(reply)) = (entry.client, reply)
            {
                ctx.reply_to_client(to, reply);
            }
        }
        self.serve_reads(ctx);
        self.serve_follower_reads(ctx);
        self.schedule_compaction(ctx);
    }

    /// Client requests: the leader appends the command to its log and replicates it; others
    /// redirect to the leader they know of (§8). With `reads: ReadIndex` or `Lease` a get is
    /// served without the log (`reads.rs`), and with `follower_reads` by followers too. A
    /// leader transferring its leadership refuses everything, pointing at the target (§3.10:
    /// "the prior leader stops accepting new client requests").
    pub(super) fn handle_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        if self.cfg.follower_reads
            && self.role != Role::Leader
            && let Op::Get { key } = &req.op
        {
            self.follower_read(req.from, key.clone(), ctx);
            return;
        }
        if self.role != Role::Leader
            && self.cfg.stale_reads_at_followers
            && let Op::Get { key } = &req.op
        {
            let value = self.kv.get(key).map(str::to_string);
            ctx.reply_to_client(req.from, ClientReply::Ok { value });
            return;
        }
        if self.role != Role::Leader {
            ctx.count("redirects", 1);
            ctx.reply_to_client(
                req.from,
                ClientReply::Redirect {
                    leader: self.leader_id,
                },
            );
            return;
        }
        if let Some(t) = &self.transfer {
            ctx.count("redirects", 1);
            ctx.reply_to_client(
                req.from,
                ClientReply::Redirect {
                    leader: Some(t.target),
                },
            );
            return;
        }
        let command = match req.op {
            Op::Get { key } if self.cfg.reads != ReadPath::Log => {
                self.leader_read(req.from, key, ctx);
                return;
            }
            Op::Get { key } => KvCommand::Get { key },
            Op::Put { key, value } => KvCommand::Put { key, value },
            Op::Cas { key, from, to } => KvCommand::Cas { key, from, to },
            Op::Request(arg) => {
                ctx.reply_to_client(
                    req.from,
                    ClientReply::Fail {
                        reason: format!("raft serves get/put/cas, not `request {arg}`"),
                    },
                );
                return;
            }
        };
        self.log.push(LogEntry {
            term: self.current_term,
            command: Arc::new(command),
            client: Some(req.from),
        });
        self.persist(ctx);
        self.match_index[self.id] = self.last_log_index();
        self.broadcast_append(ctx);
        self.advance_commit_index(ctx); // a one-server cluster commits at once
    }
}
