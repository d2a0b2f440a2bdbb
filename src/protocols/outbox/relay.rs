//! The message relay: a task of the order service node (not a node of its own, so it
//! shares the service's crashes and restarts from the same outbox table). Every
//! `poll_interval` it reads the outbox and publishes each row not yet published, and again
//! each row whose `Confirm` has not come within `confirm_timeout`. A row is marked published
//! only after the bus confirms it (`OrderService::on_confirm`).
//!
//! ```text
//!  outbox row (published: false) ──poll──► Publish ──► bus ──Confirm──► row published: true
//!        ▲                                   │ lost, or no Confirm in confirm_timeout
//!        └──────────── next poll sends it again (at least once) ◄───┘
//! ```
//!
//! At least once, not exactly once: a crash after the bus appended the event and before the
//! row is marked makes the restarted relay publish it again. The consumer deduplicates.

use super::config::OutboxConfig;
use super::message::{OrderId, OutboxMsg};
use super::order::OrderDb;
use super::{Outbox, OutboxTimer};
use crate::sim::{Ctx, SimTime};
use std::collections::BTreeMap;

/// The relay's volatile state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Relay {
    /// Rows published and not confirmed yet, with when they were last sent.
    pub sent_at: BTreeMap<OrderId, SimTime>,
}

impl Relay {
    /// One poll of the outbox table; the next one is armed.
    pub fn poll(&mut self, db: &OrderDb, cfg: &OutboxConfig, ctx: &mut Ctx<Outbox>) {
        ctx.set_timer(OutboxTimer::Poll, cfg.poll_interval);
        let Some(&bus) = ctx.nodes_of("bus").first() else {
            return;
        };
        for (&order, _) in db.outbox.iter().filter(|(_, published)| !**published) {
            let due = match self.sent_at.get(&order) {
                None => true,
                Some(&at) => at.saturating_add(cfg.confirm_timeout) <= ctx.now,
            };
            if !due {
                continue;
            }
            if self.sent_at.contains_key(&order) {
                ctx.count("republished", 1);
            }
            self.sent_at.insert(order, ctx.now);
            ctx.send(bus, OutboxMsg::Publish { order });
        }
    }
}
