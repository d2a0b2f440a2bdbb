//! Shipping the log: the leader appends writes and sends `Replicate`; followers store what
//! passes the consistency check and acknowledge; the leader acknowledges a write to its client
//! once enough followers have stored it (`Sync`: all, `SemiSync(k)`: k, `Async`: none).

use super::{Entry, Epoch, Index, LeaderFollower, LfMsg, LfTimer, Role, WriteId};
use crate::sim::{ClientRef, ClientReply, Ctx, NodeId};

impl LeaderFollower {
    /// Leader: a client write. Appended, persisted, shipped; acknowledged by
    /// [`Self::advance_commit`] once replicated as the configuration demands.
    pub(super) fn write(
        &mut self,
        from: ClientRef,
        key: String,
        value: String,
        ctx: &mut Ctx<Self>,
    ) {
        debug_assert_eq!(self.role, Role::Leader);
        self.log.push(Entry {
            epoch: self.epoch,
            key,
            value,
            write: WriteId {
                client: from.client,
                seq: from.seq,
            },
        });
        let index = self.last_index();
        self.match_index[self.id] = index;
        self.waiting.insert(index, from);
        self.persist(ctx);
        // Sync and SemiSync ship at once (their client waits); Async ships with the next
        // heartbeat, in batches, as log shipping does: what the leader acknowledged since its
        // last heartbeat exists on the leader alone.
        if self.cfg.acks_needed(self.nodes) > 0 {
            let me = self.id;
            for f in (0..self.nodes).filter(|&f| f != me) {
                self.send_replicate(f, ctx);
            }
        }
        self.advance_commit(ctx);
    }

    /// Leader: sends follower `to` the entries from its `next_index` on (at most
    /// `max_entries_per_replicate`), then assumes they will arrive (pipelining): a refusal
    /// sets `next_index` back.
    pub(super) fn send_replicate(&mut self, to: NodeId, ctx: &mut Ctx<Self>) {
        let next = self.next_index[to].clamp(1, self.last_index() + 1);
        let prev_index = next - 1;
        let end = (prev_index as usize + self.cfg.max_entries_per_replicate).min(self.log.len());
        let entries = self.log[prev_index as usize..end].to_vec();
        self.next_index[to] = end as Index + 1;
        ctx.send(
            to,
            LfMsg::Replicate {
                epoch: self.epoch,
                prev_index,
                prev_epoch: self.epoch_at(prev_index),
                entries,
                commit: self.commit,
            },
        );
    }

    /// Leader: the heartbeat timer; every follower gets what it has not been sent yet (or an
    /// empty `Replicate`).
    pub(super) fn on_heartbeat(&mut self, ctx: &mut Ctx<Self>) {
        if self.role != Role::Leader {
            return;
        }
        let me = self.id;
        for f in (0..self.nodes).filter(|&f| f != me) {
            // From where the last one ended: if one was lost, the follower's consistency
            // check refuses this one and the leader starts again from what it has.
            self.send_replicate(f, ctx);
        }
        ctx.set_timer(LfTimer::Heartbeat, self.cfg.heartbeat_interval);
    }

    /// Follower (or a leader hearing another leader): a `Replicate`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_replicate(
        &mut self,
        from: NodeId,
        epoch: Epoch,
        prev_index: Index,
        prev_epoch: Epoch,
        entries: Vec<Entry>,
        commit: Index,
        ctx: &mut Ctx<Self>,
    ) {
        if self.cfg.fencing {
            // Fencing: an older epoch is a deposed leader; tell it ours so it steps down.
            if epoch < self.epoch {
                ctx.count("fenced", 1);
                ctx.send(
                    from,
                    LfMsg::ReplicateAck {
                        epoch: self.epoch,
                        ok: false,
                        last: self.last_index(),
                    },
                );
                return;
            }
            if epoch > self.epoch || self.role == Role::Leader {
                self.follow(from, epoch, ctx);
            }
        } else if self.role == Role::Leader {
            // Without fencing a leader never learns it was replaced: it ignores the other.
            return;
        } else {
            self.epoch = self.epoch.max(epoch);
        }
        self.leader = Some(from);
        self.reset_failover_timer(ctx);

        // The consistency check (Raft's AppendEntries): our entry at prev_index must match.
        if prev_index > self.last_index() || self.epoch_at(prev_index) != prev_epoch {
            // Where the leader should start again: our end, or before every entry of the
            // conflicting epoch (Raft §5.3's optimization: one round trip per epoch, not
            // per entry).
            let last = if prev_index > self.last_index() {
                self.last_index()
            } else {
                let bad = self.epoch_at(prev_index);
                let mut i = prev_index - 1;
                while i > 0 && self.epoch_at(i) == bad {
                    i -= 1;
                }
                i
            };
            ctx.send(
                from,
                LfMsg::ReplicateAck {
                    epoch: self.epoch,
                    ok: false,
                    last,
                },
            );
            return;
        }
        let mut changed = false;
        for (i, e) in entries.iter().enumerate() {
            let index = prev_index as usize + i + 1;
            match self.log.get(index - 1) {
                Some(mine) if mine.epoch == e.epoch => {}
                Some(_) => {
                    // A conflicting suffix: the leader's log wins, ours is dropped.
                    self.log.truncate(index - 1);
                    self.truncations += 1;
                    self.log.push(e.clone());
                    changed = true;
                }
                None => {
                    self.log.push(e.clone());
                    changed = true;
                }
            }
        }
        let last = prev_index + entries.len() as Index;
        self.commit = self.commit.max(commit.min(last)).min(self.last_index());
        if changed {
            self.persist(ctx);
        }
        ctx.send(
            from,
            LfMsg::ReplicateAck {
                epoch: self.epoch,
                ok: true,
                last,
            },
        );
    }

    /// Leader: a follower's answer.
    pub(super) fn on_replicate_ack(
        &mut self,
        from: NodeId,
        epoch: Epoch,
        ok: bool,
        last: Index,
        ctx: &mut Ctx<Self>,
    ) {
        if self.cfg.fencing && epoch > self.epoch {
            // Fencing: a replica has seen a newer leader; this one is deposed.
            self.follow_unknown(epoch, ctx);
            return;
        }
        if self.role != Role::Leader {
            return;
        }
        if ok && self.cfg.fencing && epoch != self.epoch {
            return; // an answer to a Replicate of an earlier reign: says nothing about this log
        }
        if ok {
            self.match_index[from] = self.match_index[from].max(last);
            self.next_index[from] = self.next_index[from].max(last + 1);
            self.advance_commit(ctx);
        } else {
            self.next_index[from] = last + 1;
            self.match_index[from] = self.match_index[from].min(last);
            self.send_replicate(from, ctx);
        }
    }

    /// Leader: the acknowledged prefix is the highest index stored by as many followers as
    /// the replication mode demands; writes up to it are acknowledged to their clients.
    pub(super) fn advance_commit(&mut self, ctx: &mut Ctx<Self>) {
        let needed = self.cfg.acks_needed(self.nodes);
        let mut stored: Vec<Index> = (0..self.nodes)
            .filter(|&f| f != self.id)
            .map(|f| self.match_index[f].min(self.last_index()))
            .collect();
        stored.sort_unstable_by(|a, b| b.cmp(a));
        let candidate = match needed {
            0 => self.last_index(),
            k => stored[k - 1],
        };
        if candidate <= self.commit {
            return;
        }
        self.commit = candidate;
        let done: Vec<Index> = self.waiting.range(..=candidate).map(|(&i, _)| i).collect();
        for i in done {
            let client = self.waiting.remove(&i).expect("listed");
            let version = self.version_at(i);
            ctx.count("writes_acked", 1);
            ctx.reply_to_client(
                client,
                ClientReply::Ok {
                    value: Some(version.tag("")),
                },
            );
        }
        let decided: Vec<Index> = self.compares.range(..=candidate).map(|(&i, _)| i).collect();
        for i in decided {
            for (client, current) in self.compares.remove(&i).expect("listed") {
                ctx.reply_to_client(client, ClientReply::CompareFailed { current });
            }
        }
    }
}
