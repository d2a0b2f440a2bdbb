//! A client node: it starts one workflow per workload request (the order id is the workflow
//! id, unique over the run: the counter is on disk), sends `StartWorkflowExecution` again
//! every second until it hears the `WorkflowResult` (the id makes it idempotent), and sends
//! `cancel` signals: a request `cancel` (or `cancel 3`) from the timeline, or at random
//! (`cancel_chance`).

use super::config::WorkflowConfig;
use super::message::{End, Signal, WfMsg, WorkflowId};
use super::{Workflow, WorkflowDurable, WorkflowTimer};
use crate::sim::{ClientRef, ClientReply, ClientRequest, Ctx, Op, SimTime};
use rand::Rng;
use std::collections::BTreeMap;

/// How often a start or a signal is sent again until the workflow's result arrives.
pub const RESEND: SimTime = SimTime::from_secs(1);
/// Sends of one start before the client gives up on it.
pub const MAX_SENDS: u32 = 60;

#[derive(Clone, Debug, PartialEq)]
pub struct Client {
    /// Orders started so far (durable).
    pub next: u64,
    /// Users waiting for a workflow's result, with the sends so far.
    pub waiting: BTreeMap<WorkflowId, (ClientRef, u32)>,
    /// Workflows this client asked to cancel (and the user who asked, if any).
    pub cancelling: BTreeMap<WorkflowId, Option<ClientRef>>,
    pub ended: BTreeMap<WorkflowId, End>,
}

impl Client {
    pub fn start(next: u64) -> Self {
        Client {
            next,
            waiting: BTreeMap::new(),
            cancelling: BTreeMap::new(),
            ended: BTreeMap::new(),
        }
    }

    pub fn on_client_request(
        &mut self,
        req: ClientRequest,
        cfg: &WorkflowConfig,
        ctx: &mut Ctx<Workflow>,
    ) {
        if let Op::Request(arg) = &req.op
            && let Some(rest) = arg.strip_prefix("cancel")
        {
            let which = rest
                .trim()
                .trim_start_matches('o')
                .parse::<WorkflowId>()
                .ok();
            let Some(wf) = which.or_else(|| self.last_started(ctx)) else {
                let reason = "no order to cancel".to_string();
                ctx.reply_to_client(req.from, ClientReply::Fail { reason });
                return;
            };
            self.cancelling.insert(wf, Some(req.from));
            self.send_signal(wf, ctx);
            return;
        }
        let wf = self.order_id(self.next, ctx);
        self.next += 1;
        ctx.persist(WorkflowDurable {
            next: self.next,
            ..Default::default()
        });
        self.waiting.insert(wf, (req.from, 0));
        self.send_start(wf, ctx);
        if cfg.cancel_chance > 0.0 && ctx.rng().random::<f64>() < cfg.cancel_chance {
            let within = cfg.cancel_within.0.max(1);
            let after = SimTime(ctx.rng().random_range(0..within));
            ctx.set_timer(WorkflowTimer::CancelLater(wf), after);
        }
    }

    /// Order ids interleave over the clients: the `k`th order of client `i` of `n` is
    /// `k * n + i`.
    fn order_id(&self, k: u64, ctx: &Ctx<Workflow>) -> WorkflowId {
        let clients = ctx.nodes_of("client");
        let i = clients.iter().position(|&c| c == ctx.id).unwrap_or(0) as u64;
        k * clients.len().max(1) as u64 + i
    }

    fn last_started(&self, ctx: &Ctx<Workflow>) -> Option<WorkflowId> {
        self.next.checked_sub(1).map(|k| self.order_id(k, ctx))
    }

    fn send_start(&mut self, wf: WorkflowId, ctx: &mut Ctx<Workflow>) {
        let Some(&server) = ctx.nodes_of("server").first() else {
            return;
        };
        if let Some(w) = self.waiting.get_mut(&wf) {
            w.1 += 1;
        }
        ctx.send(server, WfMsg::StartWorkflowExecution { workflow: wf });
        ctx.set_timer(WorkflowTimer::Resend(wf), RESEND);
    }

    fn send_signal(&mut self, wf: WorkflowId, ctx: &mut Ctx<Workflow>) {
        let Some(&server) = ctx.nodes_of("server").first() else {
            return;
        };
        let signal = Signal::Cancel;
        ctx.send(
            server,
            WfMsg::SignalWorkflowExecution {
                workflow: wf,
                signal,
            },
        );
        ctx.set_timer(WorkflowTimer::Resend(wf), RESEND);
    }

    pub fn on_timer(&mut self, timer: WorkflowTimer, ctx: &mut Ctx<Workflow>) {
        match timer {
            WorkflowTimer::CancelLater(wf) if !self.ended.contains_key(&wf) => {
                self.cancelling.entry(wf).or_insert(None);
                self.send_signal(wf, ctx);
            }
            WorkflowTimer::Resend(wf) => {
                if self.cancelling.contains_key(&wf) {
                    self.send_signal(wf, ctx);
                }
                match self.waiting.get(&wf) {
                    Some(&(_, n)) if n >= MAX_SENDS => {
                        let (user, _) = self.waiting.remove(&wf).expect("just seen");
                        let reason = format!("o{wf}: no result after {n} sends");
                        ctx.reply_to_client(user, ClientReply::Fail { reason });
                    }
                    Some(_) => self.send_start(wf, ctx),
                    None => {}
                }
            }
            _ => {}
        }
    }

    pub fn on_result(&mut self, wf: WorkflowId, end: End, ctx: &mut Ctx<Workflow>) {
        ctx.cancel_timer(WorkflowTimer::Resend(wf));
        self.ended.insert(wf, end);
        let value = Some(format!("o{wf} {}", end.word()));
        if let Some((user, _)) = self.waiting.remove(&wf) {
            let value = value.clone();
            ctx.reply_to_client(user, ClientReply::Ok { value });
        }
        if let Some(Some(user)) = self.cancelling.remove(&wf) {
            ctx.reply_to_client(user, ClientReply::Ok { value });
        }
    }
}
