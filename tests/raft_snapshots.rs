//! Raft log compaction (§7 of the extended paper, Figure 13): handler tests that quote the rule
//! they check, the view's snapshot boundary, the two snapshot checkers against hand-built
//! states that break them, and the existing checkers on compacted logs.

use distsim::protocols::raft::invariants::{
    LeaderCompleteness, LogMatching, SnapshotCommitted, SnapshotState,
};
use distsim::protocols::raft::{
    Ext, KvCommand, KvStore, LogEntry, Raft, RaftConfig, RaftDurable, RaftMsg, RaftTimer, Role,
    Snapshot,
};
use distsim::sim::client::History;
use distsim::sim::{Command, Ctx, Failure, Invariant, NodeId, Protocol, SimTime, World};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

// ---------------------------------------------------------------------- helpers

fn ms(v: u64) -> SimTime {
    SimTime::from_millis(v)
}

/// Fixed timing; compaction after 2 applied entries.
fn cfg() -> RaftConfig {
    RaftConfig {
        election_timeout_min: ms(200),
        election_timeout_max: ms(200),
        heartbeat_interval: ms(50),
        snapshot_threshold: Some(2),
        ..Default::default()
    }
}

fn step<R>(
    id: NodeId,
    n: usize,
    now_ms: u64,
    f: impl FnOnce(&mut Ctx<Raft>) -> R,
) -> (R, Vec<Command<Raft>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut out = Vec::new();
    let r = {
        let mut ctx = Ctx::new(id, n, ms(now_ms), &mut rng, &mut out);
        f(&mut ctx)
    };
    (r, out)
}

fn put(term: u64, key: &str, value: &str) -> LogEntry {
    LogEntry::new(
        term,
        KvCommand::Put {
            key: key.into(),
            value: value.into(),
        },
    )
}
fn noop(term: u64) -> LogEntry {
    LogEntry::new(term, KvCommand::Noop)
}

/// The state machine after applying `entries` in order.
fn applied(entries: &[LogEntry]) -> Arc<KvStore> {
    let mut kv = KvStore::default();
    for e in entries {
        kv.apply(e);
    }
    Arc::new(kv)
}

fn snapshot(index: u64, term: u64, state: Arc<KvStore>) -> Snapshot {
    Snapshot {
        last_included_index: index,
        last_included_term: term,
        state,
    }
}

fn durable(term: u64, log: Vec<LogEntry>, snapshot: Snapshot) -> RaftDurable {
    RaftDurable {
        current_term: term,
        voted_for: None,
        log,
        snapshot,
    }
}

/// A follower restored from persistent state.
fn node(id: NodeId, n: usize, d: &RaftDurable) -> Raft {
    step(id, n, 0, |ctx| Raft::on_restart(&cfg(), d, ctx)).0
}

fn deliver(r: &mut Raft, from: NodeId, msg: RaftMsg, now_ms: u64) -> Vec<Command<Raft>> {
    let (id, n) = (r.id(), r.next_index().len());
    step(id, n, now_ms, |ctx| r.on_message(from, msg, ctx)).1
}
fn fire(r: &mut Raft, timer: RaftTimer, now_ms: u64) -> Vec<Command<Raft>> {
    let (id, n) = (r.id(), r.next_index().len());
    step(id, n, now_ms, |ctx| r.on_timer(timer, ctx)).1
}

/// Node 0 of 3 restored from `d`, elected leader of term `d.current_term + 1` by node 1.
fn leader(d: &RaftDurable) -> Raft {
    let mut r = node(0, 3, d);
    fire(&mut r, RaftTimer::ElectionTimeout, 200);
    deliver(
        &mut r,
        1,
        RaftMsg::RequestVoteResponse {
            term: d.current_term + 1,
            vote_granted: true,
        },
        210,
    );
    assert_eq!(r.role(), Role::Leader);
    r
}

fn sends(cmds: &[Command<Raft>]) -> Vec<(NodeId, RaftMsg)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

fn persisted(cmds: &[Command<Raft>]) -> Option<RaftDurable> {
    cmds.iter().rev().find_map(|c| match c {
        Command::Persist(d) => Some(d.clone()),
        _ => None,
    })
}

fn install(term: u64, index: u64, last_term: u64, data: Arc<KvStore>) -> RaftMsg {
    RaftMsg::InstallSnapshot {
        term,
        leader_id: 0,
        last_included_index: index,
        last_included_term: last_term,
        data,
        round: Ext(0),
    }
}

// ---------------------------------------------------------------------- handler tests

#[test]
fn rule_1_reply_immediately_if_term_is_older_than_current_term() {
    // Figure 13, receiver rule 1: "Reply immediately if term < currentTerm."
    let mut r = node(1, 3, &durable(3, vec![noop(1)], Snapshot::default()));
    let before = r.clone();
    let out = deliver(&mut r, 0, install(2, 5, 2, applied(&[])), 100);
    assert_eq!(
        out,
        vec![Command::Send {
            to: 0,
            msg: RaftMsg::InstallSnapshotResponse {
                term: 3,
                match_index: 1,
                round: Ext(0),
            },
        }]
    );
    // Nothing changes (but the checkers' ghost variable, which records the older term).
    assert_eq!(
        (
            r.current_term(),
            r.log(),
            r.snapshot(),
            r.kv(),
            r.leader_id()
        ),
        (3, before.log(), before.snapshot(), before.kv(), None)
    );
    assert_eq!(
        r.election_timer(),
        before.election_timer(),
        "no leader heard"
    );
}

#[test]
fn rule_6_an_entry_matching_the_last_included_one_keeps_the_entries_after_it() {
    // Figure 13, rule 6: "If existing log entry has same index and term as snapshot's last
    // included entry, retain log entries following it and reply." This follower has not applied
    // that far, so its state machine is reset from the snapshot too (rule 8).
    let log = vec![noop(1), put(1, "x", "1"), put(1, "y", "2")];
    let mut r = node(1, 3, &durable(1, log.clone(), Snapshot::default()));
    let data = applied(&log[..2]);
    let out = deliver(&mut r, 0, install(1, 2, 1, data.clone()), 100);
    assert_eq!(r.log(), &log[2..], "entry 3 is kept");
    assert_eq!(r.snapshot(), &snapshot(2, 1, data.clone()));
    assert_eq!((r.commit_index(), r.last_applied()), (2, 2));
    assert_eq!(r.kv(), &*data);
    assert_eq!(r.leader_id(), Some(0));
    // The snapshot and the log are persisted together, before the answer.
    assert_eq!(
        persisted(&out),
        Some(durable(1, log[2..].to_vec(), snapshot(2, 1, data)))
    );
    let persist_at = out
        .iter()
        .position(|c| matches!(c, Command::Persist(_)))
        .expect("persisted");
    let send_at = out
        .iter()
        .position(|c| matches!(c, Command::Send { .. }))
        .expect("answered");
    assert!(persist_at < send_at);
    assert_eq!(
        sends(&out),
        vec![(
            0,
            RaftMsg::InstallSnapshotResponse {
                term: 1,
                match_index: 2,
                round: Ext(0),
            }
        )]
    );
    assert_eq!(r.term_at(2), Some(1));
    assert_eq!(r.term_at(1), None, "compacted");
    assert_eq!(r.last_log_index(), 3);
}

#[test]
fn rule_7_and_8_otherwise_discard_the_entire_log_and_reset_the_state_machine() {
    // Figure 13, rule 7: "Discard the entire log." Rule 8: "Reset state machine using snapshot
    // contents." The follower's entry 2 is of another term, and it has no entry 3.
    let mut r = node(
        1,
        3,
        &durable(2, vec![noop(1), put(2, "x", "stale")], Snapshot::default()),
    );
    let data = applied(&[noop(1), put(1, "x", "1"), put(3, "y", "2")]);
    let out = deliver(&mut r, 0, install(3, 3, 3, data.clone()), 100);
    assert!(r.log().is_empty(), "the whole log is discarded");
    assert_eq!(r.current_term(), 3, "the leader's newer term is adopted");
    assert_eq!((r.commit_index(), r.last_applied()), (3, 3));
    assert_eq!(r.kv().get("x"), Some("1"));
    assert_eq!(r.kv().get("y"), Some("2"));
    assert_eq!((r.last_log_index(), r.last_log_term()), (3, 3));
    assert_eq!(
        persisted(&out).map(|d| (d.log, d.snapshot)),
        Some((vec![], snapshot(3, 3, data)))
    );
}

#[test]
fn a_snapshot_no_newer_than_our_own_is_answered_and_ignored() {
    // Rule 5: "discard any existing or partial snapshot with a smaller index": here the
    // leader's is the smaller one.
    let own = snapshot(4, 1, applied(&[put(1, "x", "1")]));
    let mut r = node(1, 3, &durable(1, vec![put(1, "y", "1")], own.clone()));
    let out = deliver(&mut r, 0, install(1, 3, 1, applied(&[])), 100);
    assert_eq!(r.snapshot(), &own);
    assert_eq!(r.log(), &[put(1, "y", "1")]);
    assert_eq!(persisted(&out), None);
    assert_eq!(
        sends(&out),
        vec![(
            0,
            RaftMsg::InstallSnapshotResponse {
                term: 1,
                match_index: 4,
                round: Ext(0),
            }
        )]
    );
}

#[test]
fn a_restart_restores_the_state_machine_from_the_persisted_snapshot() {
    // §7: the snapshot is durable; "the state machine" is loaded from it and the log after it
    // is kept for replay (commitIndex is relearned from the leader past the snapshot).
    let data = applied(&[put(1, "x", "1"), put(1, "y", "2")]);
    let d = durable(2, vec![put(2, "z", "3")], snapshot(2, 1, data.clone()));
    let r = node(1, 3, &d);
    assert_eq!(r.kv(), &*data);
    assert_eq!((r.commit_index(), r.last_applied()), (2, 2));
    assert_eq!((r.last_log_index(), r.last_log_term()), (3, 2));
    assert_eq!(r.entry(3), Some(&put(2, "z", "3")));
    assert_eq!(r.entry(2), None);
}

#[test]
fn past_the_threshold_a_server_snapshots_at_last_applied_and_compacts_its_log() {
    // §7: "Each server takes snapshots independently, covering just the committed entries in
    // its log." The follower applies 2 entries (the threshold), the Compact timer is set, and
    // firing it snapshots the state and drops entries 1-2.
    let log = vec![noop(1), put(1, "x", "1"), put(1, "y", "2")];
    let mut r = node(1, 3, &durable(1, log.clone(), Snapshot::default()));
    let out = deliver(
        &mut r,
        0,
        RaftMsg::AppendEntries {
            term: 1,
            leader_id: 0,
            prev_log_index: 3,
            prev_log_term: 1,
            entries: vec![],
            leader_commit: 2,
            round: Ext(0),
        },
        100,
    );
    assert!(out.contains(&Command::SetTimer {
        timer: RaftTimer::Compact,
        after: SimTime::ZERO
    }));
    assert_eq!(r.log().len(), 3, "compaction is a step of its own");
    let out = fire(&mut r, RaftTimer::Compact, 100);
    assert_eq!(r.log(), &log[2..]);
    let snap = snapshot(2, 1, applied(&log[..2]));
    assert_eq!(r.snapshot(), &snap);
    assert_eq!(persisted(&out), Some(durable(1, log[2..].to_vec(), snap)));
    // One applied entry is below the threshold: no new compaction.
    let out = deliver(
        &mut r,
        0,
        RaftMsg::AppendEntries {
            term: 1,
            leader_id: 0,
            prev_log_index: 3,
            prev_log_term: 1,
            entries: vec![],
            leader_commit: 3,
            round: Ext(0),
        },
        150,
    );
    assert_eq!(r.last_applied(), 3);
    assert!(!out.iter().any(|c| matches!(
        c,
        Command::SetTimer {
            timer: RaftTimer::Compact,
            ..
        }
    )));
}

#[test]
fn the_leader_sends_its_snapshot_to_a_follower_whose_next_index_it_covers() {
    // §7: "the leader must occasionally send snapshots to followers that lag behind", when
    // "it has already discarded the next log entry that it needs to send to a follower".
    let data = applied(&[put(1, "x", "1"), put(1, "y", "2")]);
    let mut r = leader(&durable(
        1,
        vec![put(1, "z", "3")],
        snapshot(2, 1, data.clone()),
    ));
    assert_eq!(r.last_log_index(), 4, "entry 3 and the new no-op");
    // Node 2 refuses the first AppendEntries: its log is empty.
    let out = deliver(
        &mut r,
        2,
        RaftMsg::AppendEntriesResponse {
            term: 2,
            success: false,
            match_index: 0,
            round: Ext(0),
        },
        220,
    );
    assert_eq!(
        sends(&out),
        vec![(
            2,
            RaftMsg::InstallSnapshot {
                term: 2,
                leader_id: 0,
                last_included_index: 2,
                last_included_term: 1,
                data,
                round: Ext(0),
            }
        )]
    );
    // Not again with every request until answered or a heartbeat interval passed.
    let out = fire(&mut r, RaftTimer::Heartbeat, 230);
    assert!(
        !sends(&out)
            .iter()
            .any(|(to, m)| *to == 2 && matches!(m, RaftMsg::InstallSnapshot { .. }))
    );
    // The answer moves matchIndex and nextIndex past the snapshot; the rest goes by
    // AppendEntries from there.
    let out = deliver(
        &mut r,
        2,
        RaftMsg::InstallSnapshotResponse {
            term: 2,
            match_index: 2,
            round: Ext(0),
        },
        240,
    );
    assert_eq!((r.match_index()[2], r.next_index()[2]), (2, 3));
    assert_eq!(
        sends(&out),
        vec![(
            2,
            RaftMsg::AppendEntries {
                term: 2,
                leader_id: 0,
                prev_log_index: 2,
                prev_log_term: 1,
                entries: vec![put(1, "z", "3"), noop(2)],
                leader_commit: 2,
                round: Ext(0),
            }
        )]
    );
    // The answer commits both (a majority holds the no-op of term 2), and the leader's own
    // log is read at absolute indices throughout.
    deliver(
        &mut r,
        2,
        RaftMsg::AppendEntriesResponse {
            term: 2,
            success: true,
            match_index: 4,
            round: Ext(0),
        },
        260,
    );
    assert_eq!((r.commit_index(), r.last_applied()), (4, 4));
    assert_eq!(r.kv().get("z"), Some("3"));
}

#[test]
fn an_append_entries_reaching_below_our_snapshot_is_checked_from_the_snapshot_on() {
    // Entries up to a follower's snapshot are committed, so the leader has them: an
    // AppendEntries whose prevLogIndex is below the snapshot skips them rather than failing.
    let data = applied(&[put(1, "x", "1"), put(1, "y", "2")]);
    let mut r = node(1, 3, &durable(1, vec![], snapshot(2, 1, data)));
    let out = deliver(
        &mut r,
        0,
        RaftMsg::AppendEntries {
            term: 1,
            leader_id: 0,
            prev_log_index: 0,
            prev_log_term: 0,
            entries: vec![put(1, "x", "1"), put(1, "y", "2"), put(1, "z", "3")],
            leader_commit: 3,
            round: Ext(0),
        },
        100,
    );
    assert_eq!(r.log(), &[put(1, "z", "3")]);
    assert_eq!(r.last_applied(), 3);
    assert_eq!(
        sends(&out),
        vec![(
            0,
            RaftMsg::AppendEntriesResponse {
                term: 1,
                success: true,
                match_index: 3,
                round: Ext(0),
            }
        )]
    );
}

#[test]
fn a_threshold_of_zero_is_refused() {
    let c = RaftConfig {
        snapshot_threshold: Some(0),
        ..cfg()
    };
    let e = Raft::validate_config(&c, 3).expect_err("zero");
    assert!(e.contains("snapshot_threshold"), "{e}");
}

#[test]
fn the_view_draws_the_snapshot_boundary_and_entries_at_their_absolute_indices() {
    let log = vec![noop(1), put(1, "x", "1"), put(1, "y", "2")];
    let mut r = node(1, 3, &durable(1, log, Snapshot::default()));
    let mut refreshed = r.view();
    assert!(refreshed.compacted.is_none());
    deliver(
        &mut r,
        0,
        RaftMsg::AppendEntries {
            term: 1,
            leader_id: 0,
            prev_log_index: 3,
            prev_log_term: 1,
            entries: vec![],
            leader_commit: 2,
            round: Ext(0),
        },
        100,
    );
    r.refresh_view(&mut refreshed);
    fire(&mut r, RaftTimer::Compact, 100);
    let v = r.view();
    let c = v.compacted.as_ref().expect("a snapshot boundary");
    assert_eq!((c.index, c.term), (2, 1));
    let boxes: Vec<(u64, bool)> = v.entries.iter().map(|e| (e.index, e.committed)).collect();
    assert_eq!(boxes, vec![(3, false)]);
    assert!(
        v.fields
            .iter()
            .any(|(k, x)| k == "snapshot" && x == "up to 2@t1")
    );
    // The incremental refresh gives the same view as a full rebuild.
    assert!(r.refresh_view(&mut refreshed));
    assert_eq!(refreshed, v);
    deliver(
        &mut r,
        0,
        RaftMsg::AppendEntries {
            term: 1,
            leader_id: 0,
            prev_log_index: 3,
            prev_log_term: 1,
            entries: vec![put(1, "w", "4")],
            leader_commit: 3,
            round: Ext(0),
        },
        150,
    );
    r.refresh_view(&mut refreshed);
    assert_eq!(refreshed, r.view());
    assert_eq!(refreshed.entries[0].index, 3);
    assert!(refreshed.entries[0].committed);
}

// ---------------------------------------------------------------------- checkers

/// A world of 3 servers: `live[n]` is `Some` for a running one, else `durable[n]` is used.
fn check<I: Invariant<Raft>>(
    checker: &mut I,
    live: &[Option<Raft>; 3],
    durable: &[RaftDurable; 3],
) -> Result<(), Failure> {
    let history = History::default();
    checker.check(&World {
        now: ms(1),
        states: live,
        durable,
        touched: None,
        last_event: &[None, None, None],
        history: &history,
    })
}

/// Leader n1 of term 2 that has committed [no-op, x=1, no-op of term 2].
fn committed_leader() -> Raft {
    let mut r = leader(&durable(
        1,
        vec![noop(1), put(1, "x", "1")],
        Snapshot::default(),
    ));
    deliver(
        &mut r,
        1,
        RaftMsg::AppendEntriesResponse {
            term: 2,
            success: true,
            match_index: 3,
            round: Ext(0),
        },
        220,
    );
    assert_eq!(r.commit_index(), 3);
    r
}

fn down(snap: Snapshot) -> RaftDurable {
    durable(2, vec![], snap)
}

#[test]
fn snapshot_committed_catches_a_snapshot_past_the_committed_entries() {
    let good = snapshot(2, 1, applied(&[noop(1), put(1, "x", "1")]));
    let live = [Some(committed_leader()), None, None];
    let mut c = SnapshotCommitted::new(3);
    let ds = [RaftDurable::default(), down(good.clone()), down(good)];
    assert_eq!(check(&mut c, &live, &ds), Ok(()));
    // n3's snapshot ends at index 4: nothing is committed there.
    let past = snapshot(4, 2, applied(&[]));
    let ds = [
        RaftDurable::default(),
        down(snapshot(2, 1, applied(&[]))),
        down(past),
    ];
    let e = check(&mut c, &live, &ds).expect_err("uncommitted");
    assert!(
        e.explanation
            .contains("n3's snapshot ends at index 4 (term 2), which no server has committed"),
        "{}",
        e.explanation
    );
    assert_eq!(e.nodes, vec![2]);
    // n2's snapshot names entry 2 with the wrong term.
    let mut c = SnapshotCommitted::new(3);
    let ds = [
        RaftDurable::default(),
        down(snapshot(2, 2, applied(&[]))),
        RaftDurable::default(),
    ];
    let e = check(&mut c, &live, &ds).expect_err("wrong term");
    assert!(
        e.explanation
            .contains("the entry committed there is x=1 of term 1"),
        "{}",
        e.explanation
    );
}

#[test]
fn snapshot_state_catches_a_snapshot_whose_state_is_not_the_applied_prefix() {
    let prefix = [noop(1), put(1, "x", "1")];
    let live = [Some(committed_leader()), None, None];
    let mut c = SnapshotState::new(3);
    let ds = [
        RaftDurable::default(),
        down(snapshot(2, 1, applied(&prefix))),
        down(snapshot(
            3,
            2,
            applied(&[noop(1), put(1, "x", "1"), noop(2)]),
        )),
    ];
    assert_eq!(check(&mut c, &live, &ds), Ok(()));
    // Same index and term, another state: what a server would restart with is not what it
    // had applied.
    let mut c = SnapshotState::new(3);
    let ds = [
        RaftDurable::default(),
        down(snapshot(2, 1, applied(&[put(1, "x", "2")]))),
        RaftDurable::default(),
    ];
    let e = check(&mut c, &live, &ds).expect_err("wrong state");
    assert!(
        e.explanation.contains(
            "n2's snapshot up to 2 holds {x=2}, but applying the committed entries 1..=2 gives {x=1}"
        ),
        "{}",
        e.explanation
    );
    assert_eq!(e.nodes, vec![1]);
}

#[test]
fn log_matching_compares_compacted_logs_where_both_hold_entries() {
    let leader = committed_leader();
    let state = applied(&[noop(1), put(1, "x", "1")]);
    // n2 compacted entries 1-2 and holds the leader's entry 3: fine.
    let ok = durable(2, vec![noop(2)], snapshot(2, 1, state.clone()));
    let mut c = LogMatching::new(3);
    let live = [Some(leader.clone()), None, None];
    assert_eq!(
        check(
            &mut c,
            &live,
            &[RaftDurable::default(), ok, RaftDurable::default()]
        ),
        Ok(())
    );
    // n2's snapshot says entry 2 is of term 3 while both have entry 3 of term 2.
    let bad = durable(2, vec![noop(2)], snapshot(2, 3, state));
    let mut c = LogMatching::new(3);
    let e = check(
        &mut c,
        &live,
        &[RaftDurable::default(), bad, RaftDurable::default()],
    )
    .expect_err("differ at 2");
    assert!(
        e.explanation
            .contains("both have an entry of term 2 at index 3, but differ at index 2"),
        "{}",
        e.explanation
    );
}

#[test]
fn leader_completeness_accepts_a_committed_entry_folded_into_the_leaders_snapshot() {
    // n1 commits entries 1-3 in term 2; n2 restarts from a snapshot covering them and becomes
    // leader of term 3: its snapshot holds them. A leader whose snapshot ends at 3 with the
    // wrong term lacks entry 3.
    let mut c = LeaderCompleteness::new(3);
    let first = [Some(committed_leader()), None, None];
    let ds = [
        RaftDurable::default(),
        RaftDurable::default(),
        RaftDurable::default(),
    ];
    assert_eq!(check(&mut c, &first, &ds), Ok(()));
    let state = applied(&[noop(1), put(1, "x", "1"), noop(2)]);
    let next = leader(&durable(2, vec![], snapshot(3, 2, state.clone())));
    let live = [None, Some(next), None];
    let ds2 = [down(Snapshot::default()), ds[1].clone(), ds[2].clone()];
    assert_eq!(check(&mut c, &live, &ds2), Ok(()));
    let mut c = LeaderCompleteness::new(3);
    assert_eq!(check(&mut c, &first, &ds), Ok(()));
    let wrong = leader(&durable(2, vec![], snapshot(3, 1, state)));
    let e = check(&mut c, &[None, Some(wrong), None], &ds2).expect_err("lacks entry 3");
    assert!(e.explanation.contains("lacks entry 3"), "{}", e.explanation);
}
