//! The coordinator: any node a client reaches. It sends the request to the key's N replicas
//! and answers once W have acknowledged a write, or with the newest of R replies to a read
//! (then repairs the replicas that answered with an older version).

use super::{Leaderless, LlMsg, LlTimer, Stored, replicas};
use crate::protocols::storage::Version;
use crate::sim::{ClientRef, ClientReply, ClientRequest, Ctx, NodeId, Op};

/// A request being coordinated.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    client: ClientRef,
    /// Answered to the client already (a read stays to repair late repliers).
    answered: bool,
    /// Replicas asked.
    asked: usize,
    kind: Kind,
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Write {
        key: String,
        value: String,
        version: Version,
        /// The preference list, then any stand-ins asked (sloppy quorum).
        asked: Vec<NodeId>,
        /// Who has acknowledged.
        acked: Vec<NodeId>,
    },
    Read {
        key: String,
        replies: Vec<(NodeId, Option<Stored>)>,
    },
}

impl Leaderless {
    pub(super) fn coordinate(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        let (key, write) = match req.op {
            Op::Get { key } => (key, None),
            Op::Put { key, value } => (key, Some(value)),
            Op::Cas { .. } | Op::Request(_) => {
                ctx.reply_to_client(
                    req.from,
                    ClientReply::Fail {
                        reason: "leaderless serves get and put".into(),
                    },
                );
                return;
            }
        };
        let id = self.next_id;
        self.next_id += 1;
        let targets = replicas(&key, self.nodes, self.cfg.n);
        let kind = match &write {
            Some(_) => {
                self.stamped += 1;
                let version = Version::new(
                    ctx.now.0,
                    self.stamped * self.nodes as u64 + self.id as u64 + 1,
                );
                Kind::Write {
                    key: key.clone(),
                    value: write.clone().unwrap_or_default(),
                    version,
                    asked: targets.clone(),
                    acked: Vec::new(),
                }
            }
            None => Kind::Read {
                key: key.clone(),
                replies: Vec::new(),
            },
        };
        self.pending.insert(
            id,
            Pending {
                client: req.from,
                answered: false,
                asked: targets.len(),
                kind,
            },
        );
        ctx.set_timer(LlTimer::Request(id), self.cfg.request_timeout);
        if write.is_some() && self.cfg.sloppy_quorum {
            ctx.set_timer(LlTimer::Sloppy(id), self.cfg.request_timeout.scale(1, 2));
        }
        for r in targets {
            // The coordinator is one of the replicas: it answers itself at once.
            match (&write, self.pending[&id].kind.clone()) {
                (Some(value), Kind::Write { version, .. }) if r == self.id => {
                    self.apply(key.clone(), value.clone(), version, ctx);
                    self.on_write_ack(r, id, ctx);
                }
                (Some(value), Kind::Write { version, .. }) => ctx.send(
                    r,
                    LlMsg::Write {
                        id,
                        key: key.clone(),
                        value: value.clone(),
                        version,
                        hint: None,
                    },
                ),
                (None, _) if r == self.id => {
                    let mine = self.store.get(&key).cloned();
                    self.on_read_reply(r, id, mine, ctx);
                }
                _ => ctx.send(
                    r,
                    LlMsg::Read {
                        id,
                        key: key.clone(),
                    },
                ),
            }
        }
    }

    pub(super) fn on_write_ack(&mut self, from: NodeId, id: u64, ctx: &mut Ctx<Self>) {
        let w = self.cfg.w;
        let Some(p) = self.pending.get_mut(&id) else {
            return;
        };
        let Kind::Write {
            version,
            acked,
            asked,
            ..
        } = &mut p.kind
        else {
            return;
        };
        if acked.contains(&from) {
            return;
        }
        acked.push(from);
        let acks = acked.len();
        p.asked = asked.len();
        if acks >= w && !p.answered {
            p.answered = true;
            ctx.count("writes_acked", 1);
            ctx.reply_to_client(
                p.client,
                ClientReply::Ok {
                    value: Some(version.tag("")),
                },
            );
        }
        if acks >= p.asked {
            self.finish(id, ctx);
        }
    }

    /// Sloppy quorum: halfway to the deadline, each replica that has not acknowledged is
    /// replaced by the next node of the ring not asked yet, which keeps the write as a hint.
    pub(super) fn on_sloppy_timer(&mut self, id: u64, ctx: &mut Ctx<Self>) {
        let nodes = self.nodes;
        let Some(p) = self.pending.get_mut(&id) else {
            return;
        };
        let Kind::Write {
            key,
            value,
            version,
            asked,
            acked,
        } = &mut p.kind
        else {
            return;
        };
        if p.answered {
            return;
        }
        let missing: Vec<NodeId> = asked
            .iter()
            .copied()
            .filter(|r| !acked.contains(r))
            .collect();
        let ring = replicas(key, nodes, nodes);
        let free: Vec<NodeId> = ring.into_iter().filter(|n| !asked.contains(n)).collect();
        let mut standins = free.into_iter();
        let mut sends = Vec::new();
        for replica in missing {
            let Some(standin) = standins.next() else {
                break;
            };
            asked.push(standin);
            sends.push((standin, replica));
        }
        p.asked = asked.len();
        let (key, value, version) = (key.clone(), value.clone(), *version);
        for (standin, replica) in sends {
            ctx.count("hinted_writes", 1);
            if standin == self.id {
                self.keep_hint(replica, key.clone(), value.clone(), version, ctx);
                self.on_write_ack(standin, id, ctx);
            } else {
                ctx.send(
                    standin,
                    LlMsg::Write {
                        id,
                        key: key.clone(),
                        value: value.clone(),
                        version,
                        hint: Some(replica),
                    },
                );
            }
        }
    }

    pub(super) fn on_read_reply(
        &mut self,
        from: NodeId,
        id: u64,
        value: Option<Stored>,
        ctx: &mut Ctx<Self>,
    ) {
        let (r, repair, first_wins) = (
            self.cfg.r,
            self.cfg.read_repair,
            self.cfg.bug_first_reply_wins,
        );
        let Some(p) = self.pending.get_mut(&id) else {
            return;
        };
        let Kind::Read { key, replies } = &mut p.kind else {
            return;
        };
        replies.push((from, value));
        let newest = replies
            .iter()
            .filter_map(|(_, v)| v.clone())
            .max_by_key(|(_, ver)| *ver);
        let mut fixes = Vec::new();
        if replies.len() >= r && !p.answered {
            p.answered = true;
            let chosen = if first_wins {
                replies[0].1.clone()
            } else {
                newest.clone()
            };
            ctx.count("reads", 1);
            ctx.reply_to_client(
                p.client,
                ClientReply::Ok {
                    value: chosen.map(|(v, ver)| ver.tag(&v)),
                },
            );
            if repair {
                fixes = replies.clone();
            }
        } else if p.answered && repair {
            fixes = vec![replies.last().expect("just pushed").clone()];
        }
        let key = key.clone();
        let done = replies.len() >= p.asked;
        if let Some((value, version)) = newest {
            for (node, had) in fixes {
                if had.as_ref().is_none_or(|(_, v)| *v < version) {
                    ctx.count("read_repairs", 1);
                    if node == self.id {
                        self.apply(key.clone(), value.clone(), version, ctx);
                    } else {
                        ctx.send(
                            node,
                            LlMsg::Repair {
                                key: key.clone(),
                                value: value.clone(),
                                version,
                            },
                        );
                    }
                }
            }
        }
        if done {
            self.finish(id, ctx);
        }
    }

    /// Every replica answered: nothing more to wait for.
    fn finish(&mut self, id: u64, ctx: &mut Ctx<Self>) {
        self.pending.remove(&id);
        ctx.cancel_timer(LlTimer::Request(id));
        if self.cfg.sloppy_quorum {
            ctx.cancel_timer(LlTimer::Sloppy(id));
        }
    }

    pub(super) fn on_request_timeout(&mut self, id: u64, ctx: &mut Ctx<Self>) {
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        if !p.answered {
            ctx.count("quorum_failures", 1);
            let (what, need) = match p.kind {
                Kind::Write { .. } => ("write", self.cfg.w),
                Kind::Read { .. } => ("read", self.cfg.r),
            };
            ctx.reply_to_client(
                p.client,
                ClientReply::Fail {
                    reason: format!("{what} quorum of {need} not reached"),
                },
            );
        }
    }
}
