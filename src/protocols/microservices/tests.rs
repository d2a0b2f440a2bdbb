//! Handler tests: each feeds one input to one role and asserts the exact commands recorded,
//! quoting the rule (the guide, microservices.io) it checks.

use super::*;
use crate::sim::{ClientRef, Command, Op, RoleTable};
use rand::SeedableRng;

const CLIENT: NodeId = 0;
const USERS: NodeId = 1;
const BUS: NodeId = 2;
const NOTES: NodeId = 3;

fn roles() -> RoleTable {
    RoleTable::new(
        &["client", "users", "bus", "notes"],
        &["client", "users", "bus", "notes"].map(String::from),
    )
}

fn step(id: NodeId, f: impl FnOnce(&mut Ctx<Microservices>)) -> Vec<Command<Microservices>> {
    let roles = roles();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut out = Vec::new();
    let mut ctx = Ctx::new(id, 4, SimTime::ZERO, &mut rng, &mut out).with_roles(&roles);
    f(&mut ctx);
    out
}

fn node(cfg: &MicroservicesConfig, id: NodeId) -> Microservices {
    let mut s = None;
    step(id, |ctx| s = Some(Microservices::init(cfg, ctx)));
    s.expect("built")
}

fn sends(cmds: &[Command<Microservices>]) -> Vec<(NodeId, MsMsg)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

fn env(id: u64, event: UserEvent) -> Envelope {
    Envelope { id, event }
}

fn notes_db(s: &Microservices) -> &NotesDb {
    match &s.part {
        Part::Notes(n) => &n.db,
        _ => panic!("not the notes service"),
    }
}

#[test]
fn deleting_a_user_writes_the_tombstone_and_the_event_together_then_publishes_it() {
    // The guide: services "communicate through events" and own their data; the row and its
    // event are one local transaction (an outbox), so the event cannot be lost.
    let cfg = MicroservicesConfig::default();
    let mut u = node(&cfg, USERS);
    step(USERS, |ctx| {
        u.on_message(CLIENT, MsMsg::CreateUser { req: 1 }, ctx)
    });
    let cmds = step(USERS, |ctx| {
        u.on_message(CLIENT, MsMsg::DeleteUser { req: 2, user: 1 }, ctx)
    });
    assert!(matches!(&cmds[0], Command::Persist(d)
        if d.users.users[&1].deleted_at.is_some() && d.users.outbox[&2] == UserEvent::UserDeleted(1)));
    assert_eq!(
        sends(&cmds),
        vec![
            (
                BUS,
                MsMsg::Publish {
                    env: env(2, UserEvent::UserDeleted(1))
                }
            ),
            (
                CLIENT,
                MsMsg::Reply {
                    req: 2,
                    answer: Answer::Deleted(1)
                }
            ),
        ]
    );
    // Confirmed events leave the outbox; the rest are published again.
    step(USERS, |ctx| {
        u.on_message(
            BUS,
            MsMsg::Confirm {
                env: env(1, UserEvent::UserCreated(1)),
            },
            ctx,
        )
    });
    let again = step(USERS, |ctx| u.on_timer(MsTimer::Republish, ctx));
    assert_eq!(
        sends(&again),
        vec![(
            BUS,
            MsMsg::Publish {
                env: env(2, UserEvent::UserDeleted(1))
            }
        )]
    );
}

#[test]
fn the_notes_service_knows_users_only_from_events_and_refuses_an_unknown_one() {
    // Eventual consistency: until UserCreated arrives, the notes service has not heard of u1.
    let cfg = MicroservicesConfig::default();
    let mut n = node(&cfg, NOTES);
    let cmds = step(NOTES, |ctx| {
        n.on_message(CLIENT, MsMsg::CreateNote { req: 1, user: 1 }, ctx)
    });
    assert_eq!(
        sends(&cmds),
        vec![(
            CLIENT,
            MsMsg::Reply {
                req: 1,
                answer: Answer::Refused("unknown user u1".into())
            }
        )]
    );
    step(NOTES, |ctx| {
        n.on_message(
            BUS,
            MsMsg::Deliver {
                offset: 0,
                env: env(1, UserEvent::UserCreated(1)),
            },
            ctx,
        )
    });
    let cmds = step(NOTES, |ctx| {
        n.on_message(CLIENT, MsMsg::CreateNote { req: 2, user: 1 }, ctx)
    });
    assert_eq!(
        sends(&cmds),
        vec![(
            CLIENT,
            MsMsg::Reply {
                req: 2,
                answer: Answer::Note(1)
            }
        )]
    );
}

#[test]
fn user_deleted_cascades_to_the_users_notes_once_and_is_acknowledged_every_time() {
    let cfg = MicroservicesConfig::default();
    let mut n = node(&cfg, NOTES);
    let deliver = |offset, e| MsMsg::Deliver { offset, env: e };
    step(NOTES, |ctx| {
        n.on_message(BUS, deliver(0, env(1, UserEvent::UserCreated(1))), ctx);
        n.on_message(CLIENT, MsMsg::CreateNote { req: 1, user: 1 }, ctx);
        n.on_message(CLIENT, MsMsg::CreateNote { req: 2, user: 1 }, ctx);
    });
    assert_eq!(notes_db(&n).notes.len(), 2);
    let cmds = step(NOTES, |ctx| {
        n.on_message(BUS, deliver(1, env(2, UserEvent::UserDeleted(1))), ctx)
    });
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::Persist(d) if d.notes.notes.is_empty()))
    );
    assert_eq!(sends(&cmds), vec![(BUS, MsMsg::Ack { offset: 1 })]);
    // A redelivery (or a late UserCreated) changes nothing, and is acknowledged.
    let cmds = step(NOTES, |ctx| {
        n.on_message(BUS, deliver(1, env(2, UserEvent::UserDeleted(1))), ctx);
        n.on_message(BUS, deliver(0, env(1, UserEvent::UserCreated(1))), ctx);
    });
    assert_eq!(sends(&cmds).len(), 2);
    assert!(!cmds.iter().any(|c| matches!(c, Command::Persist(_))));
    assert_eq!(notes_db(&n).users[&1], Known::Deleted);
}

#[test]
fn a_client_turns_a_request_into_a_command_and_forwards_the_reply() {
    let cfg = MicroservicesConfig {
        create_note: 0,
        delete_user: 0,
        ..Default::default()
    };
    let mut c = node(&cfg, CLIENT);
    let user = ClientRef {
        client: 0,
        seq: 1,
        attempt: 1,
    };
    let req = ClientRequest {
        from: user,
        op: Op::Request("x".into()),
    };
    let cmds = step(CLIENT, |ctx| c.on_client_request(req, ctx));
    assert_eq!(sends(&cmds), vec![(USERS, MsMsg::CreateUser { req: 1 })]);
    let cmds = step(CLIENT, |ctx| {
        c.on_message(
            USERS,
            MsMsg::Reply {
                req: 1,
                answer: Answer::User(1),
            },
            ctx,
        )
    });
    assert!(matches!(&cmds[..], [Command::Reply { to, .. }] if *to == user));
}

#[test]
fn orphans_are_the_deleted_users_whose_notes_remain() {
    let mut users = UsersDb::default();
    for (u, deleted) in [(1, true), (2, false), (3, true)] {
        users.users.insert(
            u,
            UserRow {
                created_at: SimTime::ZERO,
                deleted_at: deleted.then(|| SimTime::from_secs(1)),
            },
        );
    }
    let mut notes = NotesDb::default();
    for (n, u) in [(1, 1), (2, 2), (3, 1)] {
        notes.notes.insert(n, u);
        notes.by_user.entry(u).or_default().insert(n);
    }
    let o = orphans(&users, &notes);
    assert_eq!(o.len(), 1);
    assert_eq!((o[0].user, o[0].notes.clone()), (1, vec![1, 3]));
}

#[test]
fn with_the_bug_an_event_is_acknowledged_on_receipt_and_applied_later_from_memory() {
    // The bug: auto-ack. The bus forgets an acknowledged event, so only memory holds it.
    let cfg = MicroservicesConfig {
        bug_ack_before_apply: true,
        ..Default::default()
    };
    let mut n = node(&cfg, NOTES);
    let e = env(1, UserEvent::UserCreated(1));
    let cmds = step(NOTES, |ctx| {
        n.on_message(BUS, MsMsg::Deliver { offset: 0, env: e }, ctx)
    });
    assert_eq!(
        cmds,
        vec![
            Command::Send {
                to: BUS,
                msg: MsMsg::Ack { offset: 0 }
            },
            Command::SetTimer {
                timer: MsTimer::Apply(1),
                after: cfg.apply_delay
            },
        ]
    );
    assert!(notes_db(&n).users.is_empty(), "not applied yet");
    step(NOTES, |ctx| n.on_timer(MsTimer::Apply(1), ctx));
    assert_eq!(notes_db(&n).users[&1], Known::Active);
}
