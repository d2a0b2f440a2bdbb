//! Event-driven microservices, after "Building Scalable Event-Driven Microservices in Go: A
//! User and Notes Service Example" (the seed guide): a User service and a Notes service, each
//! with its own store, that never call each other; the user service publishes what happened
//! (`UserCreated`, `UserDeleted`) on an event bus and the notes service reacts. Deleting a user
//! deletes that user's notes, eventually: between the deletion and the delivery of
//! `UserDeleted` the two stores disagree, and the `orphan_notes` series shows the window.
//!
//! Roles: `client` (1 or more: where requests are born, `target: Role("client")`), `users`,
//! `notes` and `bus` (one each; the bus is [`crate::protocols::event_bus`]).
//!
//! ```text
//!  client ─CreateUser/DeleteUser─► users: row + outbox event (one local TX)
//!                                      │ Publish until Confirm
//!                                      ▼
//!                                     bus (durable log) ─Deliver until Ack─► notes
//!  client ─CreateNote(u)──────────────────────────────────────────────────► notes
//!        notes: UserDeleted(u) → delete u's notes     (the cascade, eventually)
//!
//!  users says u deleted ─────────────── window: u's notes still exist ───── notes agrees
//!                      (orphan_notes > 0; longer if notes is down: events wait on the bus)
//! ```
//!
//! Checker (`invariants/`, after every event): No Orphan Note, asserted whenever the system is
//! quiet (no event in the user service's outbox, every event on the bus acknowledged, none
//! waiting in the notes service's memory): then no note may belong to a deleted user. Bug
//! switch: `bug_ack_before_apply` (the notes service acknowledges an event on receipt and
//! applies it `apply_delay` later: a crash in between loses it, and the quiet system keeps
//! orphans).

mod client;
mod config;
pub mod invariants;
mod message;
mod notes;
mod users;

pub use client::Client;
pub use config::MicroservicesConfig;
pub use message::{Answer, Envelope, MsMsg, NoteId, UserEvent, UserId};
pub use notes::{Known, NotesDb, NotesService};
pub use users::{UserRow, UserService, UsersDb};

use crate::protocols::event_bus::{Bus, BusLog, BusOut};
use crate::sim::{
    ClientRequest, Ctx, EntryView, Gauge, Invariant, NodeId, NodeView, Protocol, RoleSpec, SimTime,
    Tone,
};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MsTimer {
    /// User service: some outbox events are not confirmed; publish them again.
    Republish,
    /// Bus: no `Ack` from `to` for `offset` yet; deliver again.
    Redeliver { to: NodeId, offset: u64 },
    /// Notes service with `bug_ack_before_apply`: apply this acknowledged event now.
    Apply(u64),
}

/// What survives a crash; each node uses its own part (clients keep nothing).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MsDurable {
    pub users: UsersDb,
    pub notes: NotesDb,
    pub bus: BusLog<Envelope>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    Client(Client),
    Users(UserService),
    Notes(NotesService),
    Bus(Bus<Envelope>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Microservices {
    pub cfg: MicroservicesConfig,
    pub part: Part,
}

impl Microservices {
    fn start(cfg: &MicroservicesConfig, d: &MsDurable, ctx: &mut Ctx<Self>) -> Self {
        let part = match ctx.role(ctx.id) {
            "users" => Part::Users(UserService::start(d.users.clone(), cfg, ctx)),
            "notes" => Part::Notes(NotesService {
                db: d.notes.clone(),
                buffer: BTreeMap::new(),
            }),
            "bus" => {
                let subs = ctx.nodes_of("notes");
                let (bus, out) = Bus::start(d.bus.clone(), subs, cfg.redeliver_after);
                carry(&bus, out, ctx);
                Part::Bus(bus)
            }
            _ => Part::Client(Client::default()),
        };
        Microservices {
            cfg: cfg.clone(),
            part,
        }
    }
}

/// Carries out the bus's outputs as this protocol's messages, timers and writes.
fn carry(bus: &Bus<Envelope>, out: Vec<BusOut<Envelope>>, ctx: &mut Ctx<Microservices>) {
    let mut persist = false;
    for o in out {
        match o {
            BusOut::Confirm { to, event } => ctx.send(to, MsMsg::Confirm { env: event }),
            BusOut::Deliver { to, offset, event } => {
                ctx.send(to, MsMsg::Deliver { offset, env: event })
            }
            BusOut::Redeliver { to, offset, after } => {
                ctx.set_timer(MsTimer::Redeliver { to, offset }, after)
            }
            BusOut::Cancel { to, offset } => ctx.cancel_timer(MsTimer::Redeliver { to, offset }),
            BusOut::Persist => persist = true,
        }
    }
    if persist {
        ctx.persist(MsDurable {
            bus: bus.log.clone(),
            ..Default::default()
        });
    }
}

/// Entries drawn per node (the most recent ones).
const MAX_ENTRIES: usize = 40;

impl Protocol for Microservices {
    type Msg = MsMsg;
    type Timer = MsTimer;
    type Durable = MsDurable;
    type Config = MicroservicesConfig;

    const NAME: &'static str = "microservices";
    const SUMMARY: &'static str = "event-driven microservices: a user and a notes service with their own stores, eventually consistent through an event bus";
    const MESSAGE_KINDS: &'static [&'static str] = &[
        "CreateUser",
        "DeleteUser",
        "CreateNote",
        "Reply",
        "UserCreated",
        "UserDeleted",
        "Confirm",
        "Deliver",
        "Ack",
    ];
    const ROLES: &'static [RoleSpec] = &[
        RoleSpec::new(
            "client",
            1,
            usize::MAX,
            "turns the workload's requests into commands",
        ),
        RoleSpec::new("users", 1, 1, "the user service and its users table"),
        RoleSpec::new(
            "bus",
            1,
            1,
            "the event bus: a durable log, at-least-once delivery",
        ),
        RoleSpec::new(
            "notes",
            1,
            1,
            "the notes service: notes, and users as events told it",
        ),
    ];

    fn validate_config(cfg: &MicroservicesConfig, _nodes: usize) -> Result<(), String> {
        cfg.validate()
    }

    fn init(cfg: &MicroservicesConfig, ctx: &mut Ctx<Self>) -> Self {
        Self::start(cfg, &MsDurable::default(), ctx)
    }

    /// Services restart from their stores (the user service publishes its outbox again), the
    /// bus from its log (delivering what is not acknowledged); clients lose their waiting
    /// requests.
    fn on_restart(cfg: &MicroservicesConfig, d: &MsDurable, ctx: &mut Ctx<Self>) -> Self {
        Self::start(cfg, d, ctx)
    }

    fn on_message(&mut self, from: NodeId, msg: MsMsg, ctx: &mut Ctx<Self>) {
        match (&mut self.part, msg) {
            (Part::Client(c), MsMsg::Reply { req, answer }) => c.on_reply(req, answer, ctx),
            (Part::Users(u), msg) => u.on_message(from, msg, &self.cfg, ctx),
            (Part::Notes(n), msg) => n.on_message(from, msg, &self.cfg, ctx),
            (Part::Bus(b), MsMsg::Publish { env }) => {
                let out = b.publish(from, env);
                carry(b, out, ctx);
            }
            (Part::Bus(b), MsMsg::Ack { offset }) => {
                let out = b.ack(from, offset);
                carry(b, out, ctx);
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, timer: MsTimer, ctx: &mut Ctx<Self>) {
        match (&mut self.part, timer) {
            (Part::Users(u), MsTimer::Republish) => u.on_republish(&self.cfg, ctx),
            (Part::Notes(n), MsTimer::Apply(id)) => n.apply_buffered(id, ctx),
            (Part::Bus(b), MsTimer::Redeliver { to, offset }) => {
                let out = b.redeliver(to, offset);
                if !out.is_empty() {
                    ctx.count("redeliveries", 1);
                }
                carry(b, out, ctx);
            }
            _ => {}
        }
    }

    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        match &mut self.part {
            Part::Client(c) => c.on_client_request(req, &self.cfg, ctx),
            // Requests are born at client nodes; one sent elsewhere is not answered.
            _ => ctx.count("misrouted", 1),
        }
    }

    fn view(&self) -> NodeView {
        match &self.part {
            Part::Client(c) => NodeView::new("client", Tone::Neutral)
                .field("users seen", c.users.len())
                .field("waiting", c.waiting.len()),
            Part::Users(u) => users_view(&u.db),
            Part::Notes(n) => notes_view(&n.db),
            Part::Bus(b) => {
                let mut v = NodeView::new("bus", Tone::Leader)
                    .field("events", b.log.events.len())
                    .field("unacked", b.log.unacked());
                let skip = b.log.events.len().saturating_sub(MAX_ENTRIES);
                v.entries = (skip..b.log.events.len())
                    .map(|k| {
                        let e = b.log.events[k].event;
                        EntryView {
                            index: k as u64,
                            term: if matches!(e, UserEvent::UserDeleted(_)) {
                                2
                            } else {
                                1
                            },
                            label: format!("#{k} {} u{}", e.name(), e.user()),
                            committed: b.log.acked.values().all(|a| a.contains(&(k as u64))),
                        }
                    })
                    .collect();
                v
            }
        }
    }

    fn invariants(_cfg: &MicroservicesConfig, nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        invariants::all(nodes)
    }

    fn gauges(cfg: &MicroservicesConfig, states: &[Option<Self>], out: &mut Vec<Gauge>) {
        Self::gauges_at(cfg, SimTime::ZERO, states, out)
    }

    /// `users` and `notes` (rows in each store), `unpublished` (events in the user service's
    /// outbox), `undelivered` (deliveries the bus waits an `Ack` for), and the disagreement
    /// window, measured while both services are up: `orphan_notes` (notes whose user the user
    /// service has deleted) and `orphan_age_ms` (how long ago the oldest such user was
    /// deleted). At quiescence both must be 0.
    fn gauges_at(
        _cfg: &MicroservicesConfig,
        at: SimTime,
        states: &[Option<Self>],
        out: &mut Vec<Gauge>,
    ) {
        let (mut users, mut notes) = (None, None);
        for s in states.iter().flatten() {
            match &s.part {
                Part::Users(u) => users = Some(&u.db),
                Part::Notes(n) => notes = Some(&n.db),
                Part::Bus(b) => out.push(gauge("undelivered", b.log.unacked() as f64)),
                Part::Client(_) => {}
            }
        }
        if let Some(u) = users {
            let live = u.users.values().filter(|r| r.deleted_at.is_none()).count();
            out.push(gauge("users", live as f64));
            out.push(gauge("unpublished", u.outbox.len() as f64));
        }
        if let Some(n) = notes {
            out.push(gauge("notes", n.notes.len() as f64));
        }
        if let (Some(u), Some(n)) = (users, notes) {
            let orphans = orphans(u, n);
            let count: usize = orphans.iter().map(|o| o.notes.len()).sum();
            let oldest = orphans.iter().map(|o| o.deleted_at).min();
            let age = oldest.map_or(0.0, |t| at.saturating_sub(t).as_secs_f64() * 1000.0);
            out.push(gauge("orphan_notes", count as f64));
            out.push(gauge("orphan_age_ms", age));
        }
    }
}

fn gauge(name: &'static str, value: f64) -> Gauge {
    Gauge {
        name,
        node: None,
        value,
    }
}

/// A deleted user whose notes still exist.
#[derive(Clone, Debug, PartialEq)]
pub struct Orphans {
    pub user: UserId,
    pub deleted_at: SimTime,
    pub notes: Vec<NoteId>,
}

/// The users the user service has deleted whose notes the notes service still holds.
pub fn orphans(users: &UsersDb, notes: &NotesDb) -> Vec<Orphans> {
    users
        .deleted()
        .filter_map(|(user, deleted_at)| {
            let n = notes.by_user.get(&user).filter(|s| !s.is_empty())?;
            Some(Orphans {
                user,
                deleted_at,
                notes: n.iter().copied().collect(),
            })
        })
        .collect()
}

/// The users table, most recent users last: active (term 1) or deleted (term 2).
fn users_view(db: &UsersDb) -> NodeView {
    let deleted = db.deleted().count();
    let mut v = NodeView::new("user service", Tone::Follower)
        .field("users", db.users.len() - deleted)
        .field("deleted", deleted)
        .field("outbox", db.outbox.len());
    let skip = db.users.len().saturating_sub(MAX_ENTRIES);
    v.entries = db
        .users
        .iter()
        .skip(skip)
        .map(|(&u, r)| EntryView {
            index: u,
            term: if r.deleted_at.is_some() { 2 } else { 1 },
            label: if r.deleted_at.is_some() {
                format!("u{u} deleted")
            } else {
                format!("u{u}")
            },
            committed: r.deleted_at.is_none(),
        })
        .collect();
    v
}

/// The notes table, most recent notes last, with each note's user.
fn notes_view(db: &NotesDb) -> NodeView {
    let mut v = NodeView::new("notes service", Tone::Follower)
        .field("notes", db.notes.len())
        .field("users known", db.users.len());
    let skip = db.notes.len().saturating_sub(MAX_ENTRIES);
    v.entries = db
        .notes
        .iter()
        .skip(skip)
        .map(|(&n, &u)| EntryView {
            index: n,
            term: 1,
            label: format!("n{n} by u{u}"),
            committed: true,
        })
        .collect();
    v
}

#[cfg(test)]
mod tests;
