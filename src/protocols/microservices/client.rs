//! A client node: where the workload's requests are born (`target: Role("client")`). Each
//! request becomes one command, drawn from the configured mix: create a user (user service),
//! create a note for a user it has seen created, or delete such a user (user service). A
//! scripted request can name its command instead: `Request("user")`, `Request("note u3")`,
//! `Request("delete u3")` (the workload's generated values name none). The
//! client forwards the service's `Reply` to the user; a command whose service is down is not
//! answered and the workload's timeout gives up on it.

use super::Microservices;
use super::config::MicroservicesConfig;
use super::message::{Answer, MsMsg, UserId};
use crate::sim::{ClientRef, ClientReply, ClientRequest, Ctx, NodeId, Op};
use rand::Rng;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Client {
    /// Users this client saw created (the ones it writes notes for and deletes).
    pub users: Vec<UserId>,
    /// Requests waiting for their service's `Reply`.
    pub waiting: BTreeMap<u64, ClientRef>,
    next_req: u64,
}

impl Client {
    pub fn on_client_request(
        &mut self,
        req: ClientRequest,
        cfg: &MicroservicesConfig,
        ctx: &mut Ctx<Microservices>,
    ) {
        let (Some(&users), Some(&notes)) =
            (ctx.nodes_of("users").first(), ctx.nodes_of("notes").first())
        else {
            return;
        };
        self.next_req += 1;
        let id = self.next_req;
        let arg = match &req.op {
            Op::Request(a) => a.as_str(),
            _ => "",
        };
        let named = |prefix: &str| arg.strip_prefix(prefix).and_then(|u| u.parse().ok());
        let (to, msg) = if arg == "user" {
            (users, MsMsg::CreateUser { req: id })
        } else if let Some(user) = named("note u") {
            (notes, MsMsg::CreateNote { req: id, user })
        } else if let Some(user) = named("delete u") {
            (users, MsMsg::DeleteUser { req: id, user })
        } else {
            self.pick(id, users, notes, cfg, ctx)
        };
        self.waiting.insert(id, req.from);
        ctx.send(to, msg);
    }

    /// A command drawn from the mix, about a user this client has seen created.
    fn pick(
        &self,
        id: u64,
        users: NodeId,
        notes: NodeId,
        cfg: &MicroservicesConfig,
        ctx: &mut Ctx<Microservices>,
    ) -> (NodeId, MsMsg) {
        let total = cfg.create_user + cfg.create_note + cfg.delete_user;
        let pick = ctx.rng().random_range(0..total);
        if pick < cfg.create_user || self.users.is_empty() {
            return (users, MsMsg::CreateUser { req: id });
        }
        let user = self.users[ctx.rng().random_range(0..self.users.len())];
        if pick < cfg.create_user + cfg.create_note {
            (notes, MsMsg::CreateNote { req: id, user })
        } else {
            (users, MsMsg::DeleteUser { req: id, user })
        }
    }

    pub fn on_reply(&mut self, req: u64, answer: Answer, ctx: &mut Ctx<Microservices>) {
        let Some(user) = self.waiting.remove(&req) else {
            return;
        };
        let reply = match answer {
            Answer::User(u) => {
                self.users.push(u);
                ClientReply::Ok {
                    value: Some(format!("u{u}")),
                }
            }
            Answer::Note(n) => ClientReply::Ok {
                value: Some(format!("n{n}")),
            },
            Answer::Deleted(u) => {
                self.users.retain(|&x| x != u);
                ClientReply::Ok {
                    value: Some(format!("u{u} deleted")),
                }
            }
            Answer::Refused(reason) => ClientReply::Fail { reason },
        };
        ctx.reply_to_client(user, reply);
    }
}
