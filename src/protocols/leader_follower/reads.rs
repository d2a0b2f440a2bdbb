//! Client requests: writes go to the leader (followers redirect), reads to the leader or to
//! any replica (`reads`), answered from the acknowledged prefix with the version they found.
//!
//! What a client is told must hold in every later answer, for the history to be linearizable
//! (Herlihy and Wing 1990): a read and a failed compare-and-set report only what the
//! acknowledged prefix holds (a compare decided on an entry not acknowledged yet waits for
//! it), and a retried write is answered from its first copy instead of being appended again
//! (the client session table of Raft §8, here a scan for the write's `WriteId`).

use super::{Index, LeaderFollower, Reads, Role, WriteId};
use crate::protocols::storage::Version;
use crate::sim::{ClientRef, ClientReply, ClientRequest, Ctx, Op};

impl LeaderFollower {
    pub(super) fn on_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        let redirect = ClientReply::Redirect {
            leader: self.leader.filter(|&l| l != self.id),
        };
        let is_write = matches!(req.op, Op::Put { .. } | Op::Cas { .. });
        if is_write && self.role == Role::Leader && self.retried(req.from, ctx) {
            return;
        }
        match req.op {
            Op::Get { key } => {
                let serves = self.role == Role::Leader || self.cfg.reads == Reads::Any;
                if !serves {
                    ctx.reply_to_client(req.from, redirect);
                } else if self.role == Role::Leader && self.commit < self.ready_at {
                    // A new leader whose log is not acknowledged yet may be missing nothing,
                    // or may be behind what the old leader acknowledged: it does not answer.
                    ctx.reply_to_client(
                        req.from,
                        ClientReply::Fail {
                            reason: "new leader catching up".into(),
                        },
                    );
                } else {
                    ctx.count("reads", 1);
                    // BUG switch: the leader reads its whole log, acknowledged or not.
                    let upto = if self.role == Role::Leader && self.cfg.bug_leader_reads_uncommitted
                    {
                        self.last_index()
                    } else {
                        self.commit
                    };
                    let value = self.read(&key, upto).map(|(v, version)| version.tag(v));
                    ctx.reply_to_client(req.from, ClientReply::Ok { value });
                }
            }
            Op::Put { key, value } if self.role == Role::Leader => {
                self.write(req.from, key, value, ctx);
            }
            Op::Cas { key, from, to } if self.role == Role::Leader => {
                // Decided against the whole log: the new entry would follow all of it.
                let found = self.read(&key, self.last_index());
                let current = found.map(|(v, _)| v.to_string());
                if current == from {
                    self.write(req.from, key, to, ctx);
                } else {
                    // The value it found must be acknowledged before the client hears of it.
                    let at = found.map_or(0, |(_, version)| version.index);
                    if at <= self.commit {
                        ctx.reply_to_client(req.from, ClientReply::CompareFailed { current });
                    } else {
                        self.compares
                            .entry(at)
                            .or_default()
                            .push((req.from, current));
                    }
                }
            }
            Op::Put { .. } | Op::Cas { .. } => ctx.reply_to_client(req.from, redirect),
            Op::Request(_) => ctx.reply_to_client(
                req.from,
                ClientReply::Fail {
                    reason: "leader_follower serves get, put and cas".into(),
                },
            ),
        }
    }

    /// Leader: whether this write is a retry of one already in the log (by its `WriteId`). If
    /// so it is not appended again: answered at once if acknowledged, else once it is (the
    /// newest attempt takes the answer). A retry of an operation older than the client's
    /// newest write in the log is a stale duplicate and is dropped: the client has moved on.
    fn retried(&mut self, from: ClientRef, ctx: &mut Ctx<Self>) -> bool {
        let Some((i, e)) = self
            .log
            .iter()
            .enumerate()
            .rev()
            .find(|(_, e)| e.write.client == from.client)
        else {
            return false;
        };
        let index = i as Index + 1;
        let write = WriteId {
            client: from.client,
            seq: from.seq,
        };
        if e.write.seq < write.seq {
            return false;
        }
        ctx.count("retries_deduplicated", 1);
        if e.write.seq > write.seq {
            return true;
        }
        if index <= self.commit {
            let version = self.version_at(index);
            ctx.reply_to_client(
                from,
                ClientReply::Ok {
                    value: Some(version.tag("")),
                },
            );
        } else {
            self.waiting.insert(index, from);
        }
        true
    }

    /// The newest value of `key` among the first `upto` entries, with its version.
    pub fn read(&self, key: &str, upto: Index) -> Option<(&str, Version)> {
        let upto = (upto as usize).min(self.log.len());
        self.log[..upto]
            .iter()
            .enumerate()
            .rev()
            .find(|(_, e)| e.key == key)
            .map(|(i, e)| (e.value.as_str(), Version::new(e.epoch, i as Index + 1)))
    }
}
