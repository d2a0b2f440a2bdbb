//! The messages: a client's commands to each service (`CreateUser`, `DeleteUser`,
//! `CreateNote`) and their `Reply`; the user service's events (`UserCreated`, `UserDeleted`)
//! published to the bus (`Publish`, `Confirm`), delivered to the notes service (`Deliver`)
//! and acknowledged (`Ack`).

use crate::sim::Message;

pub type UserId = u64;
pub type NoteId = u64;

/// A domain event of the user service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UserEvent {
    UserCreated(UserId),
    UserDeleted(UserId),
}

impl UserEvent {
    pub fn name(self) -> &'static str {
        match self {
            UserEvent::UserCreated(_) => "UserCreated",
            UserEvent::UserDeleted(_) => "UserDeleted",
        }
    }
    pub fn user(self) -> UserId {
        match self {
            UserEvent::UserCreated(u) | UserEvent::UserDeleted(u) => u,
        }
    }
}

/// An event with its id (the user service's outbox sequence number): what the notes service
/// deduplicates on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Envelope {
    pub id: u64,
    pub event: UserEvent,
}

/// How a command ended.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Answer {
    User(UserId),
    Note(NoteId),
    Deleted(UserId),
    Refused(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MsMsg {
    CreateUser { req: u64 },
    DeleteUser { req: u64, user: UserId },
    CreateNote { req: u64, user: UserId },
    Reply { req: u64, answer: Answer },
    Publish { env: Envelope },
    Confirm { env: Envelope },
    Deliver { offset: u64, env: Envelope },
    Ack { offset: u64 },
}

impl Message for MsMsg {
    fn kind(&self) -> &'static str {
        match self {
            MsMsg::CreateUser { .. } => "CreateUser",
            MsMsg::DeleteUser { .. } => "DeleteUser",
            MsMsg::CreateNote { .. } => "CreateNote",
            MsMsg::Reply { .. } => "Reply",
            MsMsg::Publish { env } => env.event.name(),
            MsMsg::Confirm { .. } => "Confirm",
            MsMsg::Deliver { .. } => "Deliver",
            MsMsg::Ack { .. } => "Ack",
        }
    }
    fn label(&self) -> String {
        match self {
            MsMsg::CreateUser { .. } => "create user".into(),
            MsMsg::DeleteUser { user, .. } => format!("delete u{user}"),
            MsMsg::CreateNote { user, .. } => format!("note for u{user}"),
            MsMsg::Reply { answer, .. } => format!("{answer:?}"),
            MsMsg::Publish { env } | MsMsg::Confirm { env } => {
                format!("e{} {} u{}", env.id, env.event.name(), env.event.user())
            }
            MsMsg::Deliver { offset, env } => {
                format!("#{offset} {} u{}", env.event.name(), env.event.user())
            }
            MsMsg::Ack { offset } => format!("ack #{offset}"),
        }
    }
}
