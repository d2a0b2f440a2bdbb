//! The client tier: where user requests are born. It hands each one to an app server in
//! turn and answers the user when the app server responds.

use super::{ThreeTier, TierMsg};
use crate::sim::{ClientRef, ClientReply, ClientRequest, Ctx};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
pub struct ClientNode {
    /// User requests waiting for their response, by request id.
    pub waiting: BTreeMap<u64, ClientRef>,
    next_id: u64,
    /// Round-robin position over the app servers.
    next_app: usize,
}

impl ClientNode {
    pub fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<ThreeTier>) {
        let apps = ctx.nodes_of("app");
        if apps.is_empty() {
            return;
        }
        let app = apps[self.next_app % apps.len()];
        self.next_app += 1;
        // Ids are unique per client node: the node id in the low bits.
        let id = self.next_id * ctx.nodes as u64 + ctx.id as u64;
        self.next_id += 1;
        self.waiting.insert(id, req.from);
        ctx.send(app, TierMsg::Request { id, op: req.op });
    }

    pub fn on_message(&mut self, msg: TierMsg, ctx: &mut Ctx<ThreeTier>) {
        if let TierMsg::Response { id, value } = msg
            && let Some(user) = self.waiting.remove(&id)
        {
            ctx.reply_to_client(user, ClientReply::Ok { value });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Command, Op, RoleTable};
    use rand::SeedableRng;

    #[test]
    fn requests_go_to_the_app_servers_in_turn_and_responses_answer_the_user() {
        let roles = RoleTable::new(
            &["client", "app", "db"],
            &["client", "app", "app", "db"].map(String::from),
        );
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut out = Vec::new();
        let mut c = ClientNode::default();
        let user = |seq| ClientRef {
            client: 0,
            seq,
            attempt: 1,
        };
        let get = Op::Get { key: "k1".into() };
        {
            let mut ctx =
                Ctx::new(0, 4, crate::sim::SimTime::ZERO, &mut rng, &mut out).with_roles(&roles);
            for seq in 0..3 {
                c.on_client_request(
                    ClientRequest {
                        from: user(seq),
                        op: get.clone(),
                    },
                    &mut ctx,
                );
            }
        }
        let targets: Vec<usize> = out
            .iter()
            .map(|c| match c {
                Command::Send { to, .. } => *to,
                _ => usize::MAX,
            })
            .collect();
        assert_eq!(targets, [1, 2, 1]);
        out.clear();
        {
            let mut ctx =
                Ctx::new(0, 4, crate::sim::SimTime::ZERO, &mut rng, &mut out).with_roles(&roles);
            let id = *c.waiting.keys().nth(1).unwrap();
            c.on_message(
                TierMsg::Response {
                    id,
                    value: Some("7".into()),
                },
                &mut ctx,
            );
        }
        assert!(
            matches!(&out[..], [Command::Reply { to, reply: ClientReply::Ok { value: Some(v) } }]
                if *to == user(1) && v == "7"),
            "{out:?}"
        );
        assert_eq!(c.waiting.len(), 2);
    }
}
