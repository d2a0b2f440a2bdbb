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
//!
//! A row sent `n` times waits `confirm_timeout * 2^(n-1)` (at most 8 times) before the next
//! attempt, so that an overloaded bus is not flooded with copies.

use super::config::OutboxConfig;
use super::message::{OrderId, OutboxMsg};
use super::order::OrderDb;
use super::{Outbox, OutboxTimer};
use crate::sim::{Ctx, SimTime};
use std::collections::BTreeMap;

/// The relay's volatile state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Relay {
    /// Rows published and not confirmed yet: when they were last sent, and how often.
    pub sent_at: BTreeMap<OrderId, (SimTime, u32)>,
}

impl Relay {
    /// One poll of the outbox table; the next one is armed.
    pub fn poll(&mut self, db: &OrderDb, cfg: &OutboxConfig, ctx: &mut Ctx<Outbox>) {
        ctx.set_timer(OutboxTimer::Poll, cfg.poll_interval);
        let Some(&bus) = ctx.nodes_of("bus").first() else {
            return;
        };
        for (&order, _) in db.outbox.iter().filter(|(_, published)| !**published) {
            let tries = match self.sent_at.get(&order) {
                None => 0,
                Some(&(at, n)) => {
                    let wait = cfg.confirm_timeout.saturating_mul(1 << (n - 1).min(3));
                    if at.saturating_add(wait) > ctx.now {
                        continue;
                    }
                    ctx.count("republished", 1);
                    n
                }
            };
            self.sent_at.insert(order, (ctx.now, tries + 1));
            ctx.send(bus, OutboxMsg::Publish { order });
        }
    }
}
