//! Client requests: writes go to the leader (followers redirect), reads to the leader or to
//! any replica (`reads`), answered from the acknowledged prefix with the version they found.

use super::{Index, LeaderFollower, Reads, Role};
use crate::protocols::storage::Version;
use crate::sim::{ClientReply, ClientRequest, Ctx, Op};

impl LeaderFollower {
    pub(super) fn on_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        let redirect = ClientReply::Redirect {
            leader: self.leader.filter(|&l| l != self.id),
        };
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
                    let value = self
                        .read(&key, self.commit)
                        .map(|(v, version)| version.tag(v));
                    ctx.reply_to_client(req.from, ClientReply::Ok { value });
                }
            }
            Op::Put { key, value } if self.role == Role::Leader => {
                self.write(req.from, key, value, ctx);
            }
            Op::Cas { key, from, to } if self.role == Role::Leader => {
                let current = self
                    .read(&key, self.last_index())
                    .map(|(v, _)| v.to_string());
                if current == from {
                    self.write(req.from, key, to, ctx);
                } else {
                    ctx.reply_to_client(req.from, ClientReply::CompareFailed { current });
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
