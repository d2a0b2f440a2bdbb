//! Three tiers: clients → app servers → a database, the shape of almost every web system and
//! the baseline of the caching guide ("Caching Strategies: A Visual Guide", Level 1: no cache).
//!
//! A request is born at a `client` node (the workload's `target: Role("client")`), which sends
//! it to an `app` server (round robin over the app servers). The app server asks the `db` node
//! that owns the key (keys are spread over the db nodes by their number) with a `Query`; the db
//! reads or writes its table and answers `Rows`; the app server answers the client with a
//! `Response`, and the client answers the user. Nothing is cached and nothing is copied: every
//! request costs one database query, so the database's service model decides everything.
//!
//! ```text
//!   user ──► client ──Request──► app ──Query──► db (workers, service time, queue)
//!              ▲                  │  ◄──Rows────┘
//!              └────Response──────┘
//! ```
//!
//! What to watch: give the db a service model (`service: (workers: 4, time: ..., queue: 100)`)
//! and an open-loop arrival that ramps past its capacity (`workers / mean service time`).
//! Below capacity, latency is the round trip plus one service time; as utilisation nears 1,
//! the queue grows and p99 latency bends upward (queueing theory: the M/M/c wait); past it,
//! the queue fills and requests are shed (`queue full`), so errors appear. Requests that are
//! shed or time out are not retried unless the workload says so.
//!
//! There is no invariant to check: one copy of each key cannot disagree with itself. The
//! caching, replication and messaging protocols add the anomalies and their checkers.

mod app;
mod client;
mod db;
mod message;

pub use message::TierMsg;

use crate::sim::{ClientRequest, Ctx, NodeId, NodeView, Protocol, RoleSpec, SimTime, Tone};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Options of `protocol: "three_tier"`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    /// Work an app server does per request on top of its service model (`ctx.work`), e.g.
    /// rendering the page after the query returns.
    #[serde(default)]
    pub app_work: SimTime,
}

/// One node: its role decides which of the handlers below it runs.
#[derive(Clone, Debug)]
pub enum ThreeTier {
    Client(client::ClientNode),
    App(app::AppServer),
    Db(db::Database),
}

/// The db node that owns `key` (`k17` on 3 dbs: 17 mod 3).
pub fn owner(key: &str, dbs: &[NodeId]) -> Option<NodeId> {
    if dbs.is_empty() {
        return None;
    }
    let n: usize = key
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or_else(|_| key.bytes().map(usize::from).sum());
    Some(dbs[n % dbs.len()])
}

impl ThreeTier {
    fn fresh(cfg: &TierConfig, ctx: &Ctx<Self>) -> Self {
        match ctx.role(ctx.id) {
            "client" => ThreeTier::Client(client::ClientNode::default()),
            "app" => ThreeTier::App(app::AppServer::new(cfg.app_work)),
            _ => ThreeTier::Db(db::Database::default()),
        }
    }
}

impl Protocol for ThreeTier {
    type Msg = TierMsg;
    type Timer = ();
    type Durable = BTreeMap<String, String>;
    type Config = TierConfig;

    const NAME: &'static str = "three_tier";
    const SUMMARY: &'static str = "clients -> app servers -> database: load, queues and latency";
    const MESSAGE_KINDS: &'static [&'static str] = &["Request", "Query", "Rows", "Response"];
    const ROLES: &'static [RoleSpec] = &[
        RoleSpec::new("client", 0, usize::MAX, "where requests are born"),
        RoleSpec::new("app", 1, usize::MAX, "stateless app servers"),
        RoleSpec::new(
            "db",
            1,
            usize::MAX,
            "the database, keys spread over its nodes",
        ),
    ];

    fn init(cfg: &TierConfig, ctx: &mut Ctx<Self>) -> Self {
        Self::fresh(cfg, ctx)
    }

    /// App servers and clients lose their in-flight requests; the database keeps its table
    /// (it persists every write).
    fn on_restart(cfg: &TierConfig, durable: &Self::Durable, ctx: &mut Ctx<Self>) -> Self {
        match Self::fresh(cfg, ctx) {
            ThreeTier::Db(mut d) => {
                d.table = durable.clone();
                ThreeTier::Db(d)
            }
            other => other,
        }
    }

    fn on_message(&mut self, from: NodeId, msg: TierMsg, ctx: &mut Ctx<Self>) {
        match self {
            ThreeTier::Client(c) => c.on_message(msg, ctx),
            ThreeTier::App(a) => a.on_message(from, msg, ctx),
            ThreeTier::Db(d) => d.on_message(from, msg, ctx),
        }
    }

    fn on_timer(&mut self, _timer: (), _ctx: &mut Ctx<Self>) {}

    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        match self {
            ThreeTier::Client(c) => c.on_client_request(req, ctx),
            ThreeTier::App(a) => a.on_client_request(req, ctx),
            // A user talking to the database directly gets no answer from this system.
            ThreeTier::Db(_) => ctx.count("misrouted", 1),
        }
    }

    fn view(&self) -> NodeView {
        match self {
            ThreeTier::Client(c) => {
                NodeView::new("client", Tone::Neutral).field("waiting", c.waiting.len())
            }
            ThreeTier::App(a) => {
                NodeView::new("app", Tone::Follower).field("in flight", a.in_flight.len())
            }
            ThreeTier::Db(d) => NodeView::new("db", Tone::Leader)
                .field("keys", d.table.len())
                .field("queries", d.queries),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_spread_over_the_db_nodes_by_number() {
        assert_eq!(owner("k17", &[4, 5, 6]), Some(6)); // 17 mod 3 = 2
        assert_eq!(owner("k0", &[4]), Some(4));
        assert_eq!(owner("k1", &[]), None);
    }
}
