//! The notes service and its own store: the notes table, its own copy of which users exist
//! (built only from the user service's events: the services share no database), and the
//! processed-ids table of the events it handled. It never asks the user service anything.
//!
//! ```text
//!  CreateNote(u):  users[u] = active ? write note : refuse ("unknown user", "user deleted")
//!  UserCreated(u): users[u] = active            (unless already deleted: events may reorder)
//!  UserDeleted(u): users[u] = deleted; delete every note of u   (the cascade)
//! ```
//!
//! Each event is handled in one local transaction with its id in the processed-ids table,
//! then acknowledged; a redelivered event is only acknowledged again. With
//! `bug_ack_before_apply` the order is reversed: acknowledged on receipt, kept in memory, and
//! applied `apply_delay` later.

use super::config::MicroservicesConfig;
use super::message::{Answer, Envelope, MsMsg, NoteId, UserEvent, UserId};
use super::{Microservices, MsDurable, MsTimer};
use crate::sim::{Ctx, NodeId};
use std::collections::{BTreeMap, BTreeSet};

/// What the notes service knows of a user, from events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    Active,
    Deleted,
}

/// The notes service's store (durable).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NotesDb {
    /// The notes table: each note's author.
    pub notes: BTreeMap<NoteId, UserId>,
    /// The same, by user (what the cascade deletes).
    pub by_user: BTreeMap<UserId, BTreeSet<NoteId>>,
    /// Users as the events told them.
    pub users: BTreeMap<UserId, Known>,
    /// The processed-ids table.
    pub processed: BTreeSet<u64>,
    /// Notes written so far (note ids are never reused).
    pub written: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NotesService {
    pub db: NotesDb,
    /// `bug_ack_before_apply`: events acknowledged and not applied yet, by id (volatile).
    pub buffer: BTreeMap<u64, Envelope>,
}

impl NotesService {
    fn persist(&self, ctx: &mut Ctx<Microservices>) {
        ctx.persist(MsDurable {
            notes: self.db.clone(),
            ..Default::default()
        });
    }

    pub fn on_message(
        &mut self,
        from: NodeId,
        msg: MsMsg,
        cfg: &MicroservicesConfig,
        ctx: &mut Ctx<Microservices>,
    ) {
        match msg {
            MsMsg::CreateNote { req, user } => {
                let answer = self.create_note(user, ctx);
                ctx.send(from, MsMsg::Reply { req, answer });
            }
            MsMsg::Deliver { offset, env } if cfg.bug_ack_before_apply => {
                ctx.send(from, MsMsg::Ack { offset });
                self.buffer.insert(env.id, env);
                ctx.set_timer(MsTimer::Apply(env.id), cfg.apply_delay);
            }
            MsMsg::Deliver { offset, env } => {
                self.handle(env, ctx);
                ctx.send(from, MsMsg::Ack { offset });
            }
            _ => {}
        }
    }

    fn create_note(&mut self, user: UserId, ctx: &mut Ctx<Microservices>) -> Answer {
        match self.db.users.get(&user) {
            Some(Known::Active) => {
                self.db.written += 1;
                let note = self.db.written;
                self.db.notes.insert(note, user);
                self.db.by_user.entry(user).or_default().insert(note);
                self.persist(ctx);
                ctx.count("notes_written", 1);
                Answer::Note(note)
            }
            Some(Known::Deleted) => Answer::Refused(format!("user u{user} deleted")),
            None => {
                // Eventual consistency, visible: UserCreated has not arrived here yet.
                ctx.count("notes_refused_unknown_user", 1);
                Answer::Refused(format!("unknown user u{user}"))
            }
        }
    }

    /// `bug_ack_before_apply`: the background worker applies an acknowledged event.
    pub fn apply_buffered(&mut self, id: u64, ctx: &mut Ctx<Microservices>) {
        if let Some(env) = self.buffer.remove(&id) {
            self.handle(env, ctx);
        }
    }

    /// One event, once.
    fn handle(&mut self, env: Envelope, ctx: &mut Ctx<Microservices>) {
        if !self.db.processed.insert(env.id) {
            ctx.count("duplicates_skipped", 1);
            return;
        }
        match env.event {
            UserEvent::UserCreated(u) => {
                self.db.users.entry(u).or_insert(Known::Active);
            }
            UserEvent::UserDeleted(u) => {
                self.db.users.insert(u, Known::Deleted);
                let gone = self.db.by_user.remove(&u).unwrap_or_default();
                for n in &gone {
                    self.db.notes.remove(n);
                }
                ctx.count("notes_cascaded", gone.len() as u64);
            }
        }
        self.persist(ctx);
    }
}
