//! The app tier: stateless servers that turn a request into a database query and the query's
//! rows into a response.

use super::{ThreeTier, TierMsg, owner};
use crate::sim::{ClientRef, ClientReply, ClientRequest, Ctx, NodeId, Op};
use std::collections::BTreeMap;

/// Who is waiting for a query's rows.
#[derive(Clone, Debug)]
pub enum Asker {
    /// A client node, under its request id.
    Client(NodeId, u64),
    /// A user who reached this app server directly.
    User(ClientRef),
}

#[derive(Clone, Debug, Default)]
pub struct AppServer {
    /// Queries sent and not answered yet, by query id.
    pub in_flight: BTreeMap<u64, Asker>,
    next_id: u64,
    /// Work charged per response (the config's `app_work`).
    pub work: crate::sim::SimTime,
}

impl AppServer {
    pub fn new(work: crate::sim::SimTime) -> Self {
        AppServer {
            work,
            ..Default::default()
        }
    }

    fn query(&mut self, asker: Asker, op: Op, ctx: &mut Ctx<ThreeTier>) {
        let key = match &op {
            Op::Get { key } | Op::Put { key, .. } | Op::Cas { key, .. } => key.clone(),
            Op::Request(arg) => arg.clone(),
        };
        let Some(db) = owner(&key, ctx.nodes_of("db")) else {
            return;
        };
        let id = self.next_id * ctx.nodes as u64 + ctx.id as u64;
        self.next_id += 1;
        self.in_flight.insert(id, asker);
        ctx.send(db, TierMsg::Query { id, op });
    }

    pub fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<ThreeTier>) {
        self.query(Asker::User(req.from), req.op, ctx);
    }

    pub fn on_message(&mut self, from: NodeId, msg: TierMsg, ctx: &mut Ctx<ThreeTier>) {
        match msg {
            TierMsg::Request { id, op } => self.query(Asker::Client(from, id), op, ctx),
            TierMsg::Rows { id, value } => {
                let Some(asker) = self.in_flight.remove(&id) else {
                    return;
                };
                ctx.work(self.work);
                match asker {
                    Asker::Client(node, id) => ctx.send(node, TierMsg::Response { id, value }),
                    Asker::User(user) => ctx.reply_to_client(user, ClientReply::Ok { value }),
                }
            }
            _ => {}
        }
    }
}
