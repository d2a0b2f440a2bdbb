//! The user service and its own store: the users table and an outbox. Creating or deleting a
//! user writes the row and the event (`UserCreated`, `UserDeleted`) in one local transaction,
//! then publishes the event to the bus and again every `confirm_timeout` until the bus
//! confirms it (the event's outbox row is then removed). A deleted user keeps a tombstone row.

use super::config::MicroservicesConfig;
use super::message::{Answer, Envelope, MsMsg, UserEvent, UserId};
use super::{Microservices, MsDurable, MsTimer};
use crate::sim::{Ctx, NodeId, SimTime};
use std::collections::BTreeMap;

/// One row of the users table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserRow {
    pub created_at: SimTime,
    /// The tombstone: when the user was deleted.
    pub deleted_at: Option<SimTime>,
}

/// The user service's store (durable).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UsersDb {
    pub users: BTreeMap<UserId, UserRow>,
    /// Events written and not yet confirmed by the bus, by id.
    pub outbox: BTreeMap<u64, UserEvent>,
    /// Ids given to events so far.
    pub events: u64,
}

impl UsersDb {
    pub fn deleted(&self) -> impl Iterator<Item = (UserId, SimTime)> + '_ {
        self.users
            .iter()
            .filter_map(|(&u, r)| r.deleted_at.map(|t| (u, t)))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct UserService {
    pub db: UsersDb,
}

impl UserService {
    /// A fresh service, or one restarted from its store: it publishes its outbox again.
    pub fn start(db: UsersDb, cfg: &MicroservicesConfig, ctx: &mut Ctx<Microservices>) -> Self {
        let s = UserService { db };
        s.publish_all(cfg, ctx);
        s
    }

    fn publish_all(&self, cfg: &MicroservicesConfig, ctx: &mut Ctx<Microservices>) {
        let Some(&bus) = ctx.nodes_of("bus").first() else {
            return;
        };
        for (&id, &event) in &self.db.outbox {
            ctx.send(
                bus,
                MsMsg::Publish {
                    env: Envelope { id, event },
                },
            );
        }
        if !self.db.outbox.is_empty() {
            ctx.set_timer(MsTimer::Republish, cfg.confirm_timeout);
        }
    }

    /// One local transaction: the row and its event; then the event is published.
    fn commit(
        &mut self,
        event: UserEvent,
        cfg: &MicroservicesConfig,
        ctx: &mut Ctx<Microservices>,
    ) {
        self.db.events += 1;
        let id = self.db.events;
        self.db.outbox.insert(id, event);
        ctx.persist(MsDurable {
            users: self.db.clone(),
            ..Default::default()
        });
        if let Some(&bus) = ctx.nodes_of("bus").first() {
            ctx.send(
                bus,
                MsMsg::Publish {
                    env: Envelope { id, event },
                },
            );
            ctx.set_timer(MsTimer::Republish, cfg.confirm_timeout);
        }
    }

    pub fn on_message(
        &mut self,
        from: NodeId,
        msg: MsMsg,
        cfg: &MicroservicesConfig,
        ctx: &mut Ctx<Microservices>,
    ) {
        match msg {
            MsMsg::CreateUser { req } => {
                let user = self.db.users.len() as UserId + 1;
                self.db.users.insert(
                    user,
                    UserRow {
                        created_at: ctx.now,
                        deleted_at: None,
                    },
                );
                self.commit(UserEvent::UserCreated(user), cfg, ctx);
                ctx.send(
                    from,
                    MsMsg::Reply {
                        req,
                        answer: Answer::User(user),
                    },
                );
            }
            MsMsg::DeleteUser { req, user } => {
                let answer = match self.db.users.get_mut(&user) {
                    Some(row) if row.deleted_at.is_none() => {
                        row.deleted_at = Some(ctx.now);
                        self.commit(UserEvent::UserDeleted(user), cfg, ctx);
                        ctx.count("users_deleted", 1);
                        Answer::Deleted(user)
                    }
                    _ => Answer::Refused(format!("no user u{user}")),
                };
                ctx.send(from, MsMsg::Reply { req, answer });
            }
            MsMsg::Confirm { env } if self.db.outbox.remove(&env.id).is_some() => {
                ctx.persist(MsDurable {
                    users: self.db.clone(),
                    ..Default::default()
                });
                if self.db.outbox.is_empty() {
                    ctx.cancel_timer(MsTimer::Republish);
                }
            }
            _ => {}
        }
    }

    /// No `Confirm` for some events yet: publish every outbox row again.
    pub fn on_republish(&self, cfg: &MicroservicesConfig, ctx: &mut Ctx<Microservices>) {
        if !self.db.outbox.is_empty() {
            ctx.count("republished", self.db.outbox.len() as u64);
        }
        self.publish_all(cfg, ctx);
    }
}
