//! ZAB: handler tests, paper-rule tests, checker tests, the bundled scenarios, seed sweeps.
//!
//! Every randomized failure prints its seed and the command that reproduces it.

use distsim::protocols::multi_paxos::kv::ClientOp;
use distsim::protocols::zab::invariants::{
    Agreement, EpochAckedOnce, EstablishedByQuorum, FollowerPrefix, OneLeaderPerEpoch, PrimaryOrder,
};
use distsim::protocols::zab::{
    PeerState, Role, SyncMode, Txn, Vote, Zab, ZabConfig, ZabDurable, ZabMsg, ZabTimer, Zxid,
    choose_sync,
};
use distsim::sim::client::History;
use distsim::sim::{Command, Ctx, Invariant, Op, Protocol, SimTime, World};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const N: usize = 5;

fn z(epoch: u64, counter: u64) -> Zxid {
    Zxid { epoch, counter }
}

fn txn(epoch: u64, counter: u64) -> Txn {
    Txn {
        zxid: z(epoch, counter),
        op: ClientOp {
            client: 0,
            seq: counter,
            op: Op::Put {
                key: "k".into(),
                value: format!("{epoch}.{counter}"),
            },
        },
    }
}

fn on(node: &mut Zab, id: usize, f: impl FnOnce(&mut Zab, &mut Ctx<Zab>)) -> Vec<Command<Zab>> {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut out = Vec::new();
    let mut ctx = Ctx::new(id, N, SimTime::from_millis(100), &mut rng, &mut out);
    f(node, &mut ctx);
    out
}

fn restarted(id: usize, durable: ZabDurable) -> Zab {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut out = Vec::new();
    let mut ctx = Ctx::new(id, N, SimTime::ZERO, &mut rng, &mut out);
    Zab::on_restart(&ZabConfig::default(), &durable, &mut ctx)
}

/// Node 1 following node 4, which announced itself as leader.
fn follower_of_4(durable: ZabDurable) -> Zab {
    let mut f = restarted(1, durable);
    let vote = Vote {
        epoch: 9,
        zxid: z(9, 9),
        leader: 4,
    };
    on(&mut f, 1, |s, ctx| {
        s.on_message(
            4,
            ZabMsg::Notification {
                round: 1,
                vote,
                state: PeerState::Leading,
            },
            ctx,
        )
    });
    assert!(matches!(f.role, Role::Following { leader: 4, .. }));
    f
}

fn sends(cmds: &[Command<Zab>]) -> Vec<(usize, ZabMsg)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

// ------------------------------------------------------------------ handler tests

#[test]
fn a_node_joining_a_leader_reports_its_accepted_epoch() {
    let mut f = restarted(
        1,
        ZabDurable {
            accepted_epoch: 3,
            ..Default::default()
        },
    );
    let vote = Vote {
        epoch: 3,
        zxid: z(3, 1),
        leader: 4,
    };
    let out = on(&mut f, 1, |s, ctx| {
        s.on_message(
            4,
            ZabMsg::Notification {
                round: 1,
                vote,
                state: PeerState::Leading,
            },
            ctx,
        )
    });
    assert_eq!(
        sends(&out),
        vec![(
            4,
            ZabMsg::CEpoch {
                accepted_epoch: 3,
                last_zxid: z(0, 0),
            }
        )]
    );
}

#[test]
fn a_follower_acks_a_higher_new_epoch_with_its_history_after_persisting_it() {
    let mut f = follower_of_4(ZabDurable {
        accepted_epoch: 2,
        current_epoch: 2,
        history: vec![txn(2, 1)],
        ..Default::default()
    });
    let out = on(&mut f, 1, |s, ctx| {
        s.on_message(4, ZabMsg::NewEpoch { epoch: 3 }, ctx)
    });
    let persisted = ZabDurable {
        accepted_epoch: 3,
        accepted_from: Some(4),
        current_epoch: 2,
        history: vec![txn(2, 1)],
    };
    assert_eq!(
        out.into_iter()
            .filter(|c| matches!(c, Command::Persist(_) | Command::Send { .. }))
            .collect::<Vec<_>>(),
        vec![
            Command::Persist(persisted),
            Command::Send {
                to: 4,
                msg: ZabMsg::AckEpoch {
                    epoch: 3,
                    current_epoch: 2,
                    history: vec![txn(2, 1)],
                },
            },
        ]
    );
}

#[test]
fn a_follower_refuses_a_new_epoch_below_the_one_it_accepted_and_goes_back_to_election() {
    // "if e' < f.p then ... goto Phase 0"
    let mut f = follower_of_4(ZabDurable {
        accepted_epoch: 5,
        ..Default::default()
    });
    let out = on(&mut f, 1, |s, ctx| {
        s.on_message(4, ZabMsg::NewEpoch { epoch: 4 }, ctx)
    });
    assert!(matches!(f.role, Role::Looking { .. }));
    assert!(
        !sends(&out)
            .iter()
            .any(|(_, m)| matches!(m, ZabMsg::AckEpoch { .. }))
    );
}

#[test]
fn trunc_drops_the_proposals_the_leader_never_had_and_sets_the_current_epoch() {
    let mut f = follower_of_4(ZabDurable {
        accepted_epoch: 2,
        current_epoch: 1,
        history: vec![txn(1, 1), txn(1, 2)],
        ..Default::default()
    });
    on(&mut f, 1, |s, ctx| {
        s.on_message(4, ZabMsg::NewEpoch { epoch: 3 }, ctx)
    });
    let out = on(&mut f, 1, |s, ctx| {
        s.on_message(
            4,
            ZabMsg::NewLeader {
                epoch: 3,
                sync: SyncMode::Trunc {
                    to: z(1, 1),
                    txns: vec![],
                },
            },
            ctx,
        )
    });
    assert_eq!(
        f.durable.history,
        vec![txn(1, 1)],
        "1.2 was never committed"
    );
    assert_eq!(f.durable.current_epoch, 3);
    assert!(out.contains(&Command::Count {
        name: "discarded",
        by: 1
    }));
    assert!(out.contains(&Command::Count {
        name: "sync_trunc",
        by: 1
    }));
    assert_eq!(
        sends(&out),
        vec![(
            4,
            ZabMsg::AckNewLeader {
                epoch: 3,
                zxid: z(1, 1)
            }
        )]
    );
}

fn synced_follower() -> Zab {
    let mut f = follower_of_4(ZabDurable {
        accepted_epoch: 2,
        ..Default::default()
    });
    on(&mut f, 1, |s, ctx| {
        s.on_message(4, ZabMsg::NewEpoch { epoch: 3 }, ctx)
    });
    on(&mut f, 1, |s, ctx| {
        s.on_message(
            4,
            ZabMsg::NewLeader {
                epoch: 3,
                sync: SyncMode::Diff {
                    after: z(0, 0),
                    txns: vec![],
                },
            },
            ctx,
        )
    });
    f
}

#[test]
fn a_follower_accepts_proposals_only_in_zxid_order() {
    let mut f = synced_follower();
    // 3.2 before 3.1: a gap, ignored (the leader re-sends from the last ack).
    let out = on(&mut f, 1, |s, ctx| {
        s.on_message(
            4,
            ZabMsg::Proposal {
                epoch: 3,
                txn: txn(3, 2),
                prev: z(3, 1),
            },
            ctx,
        )
    });
    assert!(sends(&out).is_empty());
    assert!(f.durable.history.is_empty());
    let out = on(&mut f, 1, |s, ctx| {
        s.on_message(
            4,
            ZabMsg::Proposal {
                epoch: 3,
                txn: txn(3, 1),
                prev: z(0, 0),
            },
            ctx,
        )
    });
    assert_eq!(f.durable.history, vec![txn(3, 1)]);
    assert_eq!(
        sends(&out),
        vec![(
            4,
            ZabMsg::Ack {
                epoch: 3,
                zxid: z(3, 1)
            }
        )]
    );
}

/// Phase 3 (Broadcast) runs within one established epoch: a follower acknowledges only the
/// proposals of the epoch it synchronized to. A delayed proposal of the same leader's earlier
/// epoch whose `prev` matches the follower's last zxid is still refused.
#[test]
fn a_follower_ignores_a_proposal_of_an_earlier_epoch_even_when_it_fits() {
    let mut f = synced_follower();
    let out = on(&mut f, 1, |s, ctx| {
        s.on_message(
            4,
            ZabMsg::Proposal {
                epoch: 2,
                txn: txn(2, 1),
                prev: z(0, 0),
            },
            ctx,
        )
    });
    assert!(f.durable.history.is_empty(), "{:?}", f.durable.history);
    assert!(sends(&out).is_empty(), "{:?}", sends(&out));
}

#[test]
fn a_follower_delivers_on_commit_in_zxid_order() {
    let mut f = synced_follower();
    for (c, prev) in [(1, z(0, 0)), (2, z(3, 1))] {
        on(&mut f, 1, |s, ctx| {
            s.on_message(
                4,
                ZabMsg::Proposal {
                    epoch: 3,
                    txn: txn(3, c),
                    prev,
                },
                ctx,
            )
        });
    }
    on(&mut f, 1, |s, ctx| {
        s.on_message(
            4,
            ZabMsg::Commit {
                epoch: 3,
                zxid: z(3, 1),
            },
            ctx,
        )
    });
    assert_eq!(f.delivered, vec![z(3, 1)]);
    on(&mut f, 1, |s, ctx| {
        s.on_message(
            4,
            ZabMsg::Commit {
                epoch: 3,
                zxid: z(3, 2),
            },
            ctx,
        )
    });
    assert_eq!(f.delivered, vec![z(3, 1), z(3, 2)]);
    assert_eq!(f.kv.data.get("k").map(String::as_str), Some("3.2"));
}

// ------------------------------------------------------------------ paper-rule tests

#[test]
fn election_votes_for_the_highest_epoch_then_zxid_then_id() {
    // Fast leader election: a vote is replaced by a better (epoch, zxid, id).
    let v = |epoch, zxid, leader| Vote {
        epoch,
        zxid,
        leader,
    };
    assert!(v(2, z(1, 5), 0) > v(1, z(1, 9), 4), "epoch first");
    assert!(v(1, z(1, 6), 0) > v(1, z(1, 5), 4), "then zxid");
    assert!(v(1, z(1, 5), 4) > v(1, z(1, 5), 3), "then id");
    let mut n = restarted(
        0,
        ZabDurable {
            current_epoch: 1,
            history: vec![txn(1, 1)],
            ..Default::default()
        },
    );
    let better = v(1, z(1, 2), 2);
    let out = on(&mut n, 0, |s, ctx| {
        s.on_message(
            2,
            ZabMsg::Notification {
                round: 1,
                vote: better,
                state: PeerState::Looking,
            },
            ctx,
        )
    });
    assert!(matches!(n.role, Role::Looking { vote, .. } if vote == better));
    assert_eq!(sends(&out).len(), N - 1, "the new vote is broadcast");
}

#[test]
fn a_quorum_vote_decides_after_the_finalize_wait() {
    let mut n = restarted(0, ZabDurable::default());
    let best = Vote {
        epoch: 0,
        zxid: z(0, 0),
        leader: 4,
    };
    for from in [4, 3] {
        on(&mut n, 0, |s, ctx| {
            s.on_message(
                from,
                ZabMsg::Notification {
                    round: 1,
                    vote: best,
                    state: PeerState::Looking,
                },
                ctx,
            )
        });
    }
    assert!(
        matches!(n.role, Role::Looking { .. }),
        "waits for a better vote"
    );
    let out = on(&mut n, 0, |s, ctx| s.on_timer(ZabTimer::Finalize, ctx));
    assert!(matches!(n.role, Role::Following { leader: 4, .. }));
    assert_eq!(
        sends(&out),
        vec![(
            4,
            ZabMsg::CEpoch {
                accepted_epoch: 0,
                last_zxid: z(0, 0),
            }
        )]
    );
}

/// Node 0 established in epoch 1 by hand, with nodes 1 and 2 synchronized (a quorum of 3 of 5).
fn established_leader() -> Zab {
    // Run a three-node-quorum establishment by hand: node 0 leads, nodes 1 and 2 follow.
    let mut l = restarted(0, ZabDurable::default());
    let me = Vote {
        epoch: 0,
        zxid: z(0, 0),
        leader: 0,
    };
    for from in [1, 2] {
        on(&mut l, 0, |s, ctx| {
            s.on_message(
                from,
                ZabMsg::Notification {
                    round: 1,
                    vote: me,
                    state: PeerState::Looking,
                },
                ctx,
            )
        });
    }
    on(&mut l, 0, |s, ctx| s.on_timer(ZabTimer::Finalize, ctx));
    assert!(matches!(l.role, Role::Leading(_)));
    for from in [1, 2] {
        on(&mut l, 0, |s, ctx| {
            s.on_message(
                from,
                ZabMsg::CEpoch {
                    accepted_epoch: 0,
                    last_zxid: z(0, 0),
                },
                ctx,
            )
        });
    }
    for from in [1, 2] {
        on(&mut l, 0, |s, ctx| {
            s.on_message(
                from,
                ZabMsg::AckEpoch {
                    epoch: 1,
                    current_epoch: 0,
                    history: vec![],
                },
                ctx,
            )
        });
    }
    for from in [1, 2] {
        on(&mut l, 0, |s, ctx| {
            s.on_message(
                from,
                ZabMsg::AckNewLeader {
                    epoch: 1,
                    zxid: z(0, 0),
                },
                ctx,
            )
        });
    }
    l
}

#[test]
fn a_leader_commits_when_a_quorum_acknowledged_and_not_before() {
    let mut l = established_leader();
    assert_eq!(l.durable.current_epoch, 1);
    let from = distsim::sim::client::ClientRef {
        client: 0,
        seq: 0,
        attempt: 1,
    };
    let op = Op::Put {
        key: "a".into(),
        value: "1".into(),
    };
    let out = on(&mut l, 0, |s, ctx| {
        s.on_client_request(distsim::sim::ClientRequest { from, op }, ctx)
    });
    let proposals: Vec<usize> = sends(&out)
        .into_iter()
        .filter(|(_, m)| matches!(m, ZabMsg::Proposal { .. }))
        .map(|(to, _)| to)
        .collect();
    assert_eq!(
        proposals,
        vec![1, 2],
        "proposed to the synchronized followers"
    );
    let ack = ZabMsg::Ack {
        epoch: 1,
        zxid: z(1, 1),
    };
    on(&mut l, 0, |s, ctx| s.on_message(1, ack.clone(), ctx));
    assert_eq!(l.committed, z(0, 0), "the leader and one follower: 2 of 5");
    let out = on(&mut l, 0, |s, ctx| s.on_message(2, ack, ctx));
    assert_eq!(l.committed, z(1, 1), "a quorum of 3 acknowledged");
    assert!(sends(&out).contains(&(
        1,
        ZabMsg::Commit {
            epoch: 1,
            zxid: z(1, 1)
        }
    )));
    assert!(
        out.iter()
            .any(|c| matches!(c, Command::Reply { to, .. } if *to == from)),
        "the client is answered once its transaction is delivered"
    );
}

#[test]
fn an_established_leader_synchronizes_a_late_follower_that_accepted_its_epoch_number_elsewhere() {
    // A follower acknowledges only an epoch above the one it accepted ("if e' > f.p"), so
    // asking one that accepted epoch 1 from a rival to acknowledge our epoch 1 would send it
    // back to election for ever. A quorum has acknowledged ours: synchronize it directly.
    let mut l = established_leader();
    let out = on(&mut l, 0, |s, ctx| {
        s.on_message(
            3,
            ZabMsg::CEpoch {
                accepted_epoch: 1,
                last_zxid: z(0, 0),
            },
            ctx,
        )
    });
    assert_eq!(
        sends(&out),
        vec![(
            3,
            ZabMsg::NewLeader {
                epoch: 1,
                sync: SyncMode::Diff {
                    after: z(0, 0),
                    txns: vec![]
                }
            }
        )]
    );
    // One that accepted an older epoch is asked to accept ours first.
    let out = on(&mut l, 0, |s, ctx| {
        s.on_message(
            4,
            ZabMsg::CEpoch {
                accepted_epoch: 0,
                last_zxid: z(0, 0),
            },
            ctx,
        )
    });
    assert_eq!(sends(&out), vec![(4, ZabMsg::NewEpoch { epoch: 1 })]);
}

#[test]
fn a_follower_not_yet_synchronized_asks_again_when_its_leader_pings_it() {
    // The leader still counts a restarted follower as synchronized and pings it, which keeps
    // the follower's silence timer from firing: its lost CEpoch must be sent again.
    let mut f = follower_of_4(ZabDurable {
        accepted_epoch: 3,
        current_epoch: 3,
        ..Default::default()
    });
    let ping = ZabMsg::Ping {
        epoch: 3,
        committed: z(0, 0),
    };
    let out = on(&mut f, 1, |s, ctx| s.on_message(4, ping.clone(), ctx));
    assert_eq!(
        sends(&out),
        vec![(
            4,
            ZabMsg::CEpoch {
                accepted_epoch: 3,
                last_zxid: z(0, 0),
            }
        )]
    );
    // Once synchronized, a ping is answered with an acknowledgement instead.
    let mut f = synced_follower();
    let out = on(&mut f, 1, |s, ctx| s.on_message(4, ping, ctx));
    assert_eq!(
        sends(&out),
        vec![(
            4,
            ZabMsg::Ack {
                epoch: 3,
                zxid: z(0, 0)
            }
        )]
    );
}

// ------------------------------------------------------------------ synchronization modes

fn zxids(h: &[Txn]) -> Vec<Zxid> {
    h.iter().map(|t| t.zxid).collect()
}

#[test]
fn the_leader_chooses_diff_trunc_or_snap_from_the_follower_last_zxid() {
    // ZooKeeper's LearnerHandler.syncFollower, case by case.
    let h = vec![txn(1, 1), txn(1, 2), txn(3, 1), txn(3, 2)];
    let diff = |after, txns: Vec<Txn>| SyncMode::Diff { after, txns };
    // The leader holds the follower's last zxid: DIFF, only what follows it.
    assert_eq!(
        choose_sync(&h, z(1, 2), 50),
        diff(z(1, 2), vec![txn(3, 1), txn(3, 2)])
    );
    assert_eq!(
        choose_sync(&h, z(3, 2), 50),
        diff(z(3, 2), vec![]),
        "in sync"
    );
    assert_eq!(choose_sync(&h, z(0, 0), 50), diff(z(0, 0), h.clone()));
    // "Newer than committedLog, send trunc": proposals after the leader's last zxid.
    assert_eq!(
        choose_sync(&h, z(3, 5), 50),
        SyncMode::Trunc {
            to: z(3, 2),
            txns: vec![]
        }
    );
    // Diverged inside the history, at an epoch boundary: "We cannot send TRUNC that cross
    // epoch boundary" -- SNAP.
    assert_eq!(
        choose_sync(&h, z(2, 4), 50),
        SyncMode::Snap { history: h.clone() }
    );
    assert_eq!(
        choose_sync(&h, z(1, 3), 50),
        SyncMode::Snap { history: h.clone() }
    );
    // Diverged inside one epoch (the leader's next zxid is of the follower's epoch): truncate to
    // the zxid before it, then the rest.
    let gap = vec![txn(1, 1), txn(1, 3)];
    assert_eq!(
        choose_sync(&gap, z(1, 2), 50),
        SyncMode::Trunc {
            to: z(1, 1),
            txns: vec![txn(1, 3)]
        }
    );
    // Too far behind: more than snap_threshold transactions to send.
    assert_eq!(choose_sync(&h, z(1, 1), 3), diff(z(1, 1), h[1..].to_vec()));
    assert_eq!(
        choose_sync(&h, z(1, 1), 2),
        SyncMode::Snap { history: h.clone() }
    );
    assert_eq!(choose_sync(&h, z(3, 2), 0), diff(z(3, 2), vec![]));
}

/// Node 0 established in epoch 2 with `history` (nodes 1 and 2 held the same in epoch 1).
fn leader_with(history: Vec<Txn>) -> Zab {
    let durable = ZabDurable {
        accepted_epoch: 1,
        current_epoch: 1,
        history: history.clone(),
        ..Default::default()
    };
    let mut l = restarted(0, durable);
    let me = Vote {
        epoch: 1,
        zxid: history.last().map_or(z(0, 0), |t| t.zxid),
        leader: 0,
    };
    let last = me.zxid;
    let msgs = [
        ZabMsg::Notification {
            round: 1,
            vote: me,
            state: PeerState::Looking,
        },
        ZabMsg::CEpoch {
            accepted_epoch: 1,
            last_zxid: last,
        },
        ZabMsg::AckEpoch {
            epoch: 2,
            current_epoch: 1,
            history: history.clone(),
        },
        ZabMsg::AckNewLeader {
            epoch: 2,
            zxid: last,
        },
    ];
    for (i, msg) in msgs.into_iter().enumerate() {
        for from in [1, 2] {
            on(&mut l, 0, |s, ctx| s.on_message(from, msg.clone(), ctx));
        }
        if i == 0 {
            on(&mut l, 0, |s, ctx| s.on_timer(ZabTimer::Finalize, ctx));
        }
    }
    assert!(matches!(&l.role, Role::Leading(x) if x.epoch == 2));
    l
}

#[test]
fn a_late_follower_is_synchronized_by_diff_or_trunc_from_the_zxid_it_reports() {
    let h = vec![txn(1, 1), txn(1, 2), txn(1, 3)];
    let mut l = leader_with(h.clone());
    // It already accepted epoch 2 elsewhere: synchronized at once, from CEpoch's last zxid.
    let out = on(&mut l, 0, |s, ctx| {
        s.on_message(
            3,
            ZabMsg::CEpoch {
                accepted_epoch: 2,
                last_zxid: z(1, 2),
            },
            ctx,
        )
    });
    let sync = SyncMode::Diff {
        after: z(1, 2),
        txns: vec![txn(1, 3)],
    };
    assert_eq!(sends(&out), vec![(3, ZabMsg::NewLeader { epoch: 2, sync })]);
    // It acknowledges epoch 2 with a history longer than the leader's: TRUNC.
    let mut longer = h.clone();
    longer.push(txn(1, 4));
    let out = on(&mut l, 0, |s, ctx| {
        s.on_message(
            4,
            ZabMsg::AckEpoch {
                epoch: 2,
                current_epoch: 1,
                history: longer,
            },
            ctx,
        )
    });
    let sync = SyncMode::Trunc {
        to: z(1, 3),
        txns: vec![],
    };
    assert_eq!(sends(&out), vec![(4, ZabMsg::NewLeader { epoch: 2, sync })]);
}

/// Node 1 following node 4, having accepted epoch 3, with `history` from epoch 1.
fn follower_holding(history: Vec<Txn>) -> Zab {
    let mut f = follower_of_4(ZabDurable {
        accepted_epoch: 2,
        current_epoch: 1,
        history,
        ..Default::default()
    });
    on(&mut f, 1, |s, ctx| {
        s.on_message(4, ZabMsg::NewEpoch { epoch: 3 }, ctx)
    });
    f
}

#[test]
fn diff_keeps_the_follower_history_and_appends_what_follows_its_last_zxid() {
    let mut f = follower_holding(vec![txn(1, 1)]);
    let sync = SyncMode::Diff {
        after: z(1, 1),
        txns: vec![txn(1, 2), txn(1, 3)],
    };
    let out = on(&mut f, 1, |s, ctx| {
        s.on_message(4, ZabMsg::NewLeader { epoch: 3, sync }, ctx)
    });
    assert_eq!(zxids(&f.durable.history), vec![z(1, 1), z(1, 2), z(1, 3)]);
    assert_eq!(f.durable.current_epoch, 3);
    assert!(out.contains(&Command::Count {
        name: "sync_diff",
        by: 1
    }));
    assert!(
        out.iter()
            .any(|c| matches!(c, Command::Persist(d) if d.current_epoch == 3))
    );
    assert!(
        out.iter()
            .any(|c| matches!(c, Command::Note(n) if n.starts_with("DIFF from n5")))
    );
    assert_eq!(
        sends(&out),
        vec![(
            4,
            ZabMsg::AckNewLeader {
                epoch: 3,
                zxid: z(1, 3)
            }
        )]
    );
    assert!(matches!(f.role, Role::Following { synced: true, .. }));
    // A late copy of it, after a proposal was accepted, truncates nothing.
    on(&mut f, 1, |s, ctx| {
        s.on_message(
            4,
            ZabMsg::Proposal {
                epoch: 3,
                txn: txn(3, 1),
                prev: z(1, 3),
            },
            ctx,
        )
    });
    let sync = SyncMode::Diff {
        after: z(1, 1),
        txns: vec![txn(1, 2), txn(1, 3)],
    };
    let out = on(&mut f, 1, |s, ctx| {
        s.on_message(4, ZabMsg::NewLeader { epoch: 3, sync }, ctx)
    });
    assert_eq!(f.durable.history.len(), 4);
    assert!(!out.iter().any(|c| matches!(c, Command::Count { .. })));
}

#[test]
fn snap_replaces_the_follower_history_with_the_leader_whole_one() {
    let mut f = follower_holding(vec![txn(1, 1), txn(1, 2)]);
    let history = vec![txn(1, 1), txn(2, 1), txn(2, 2)];
    let sync = SyncMode::Snap {
        history: history.clone(),
    };
    let out = on(&mut f, 1, |s, ctx| {
        s.on_message(4, ZabMsg::NewLeader { epoch: 3, sync }, ctx)
    });
    assert_eq!(f.durable.history, history);
    for (name, by) in [("sync_snap", 1), ("discarded", 1)] {
        assert!(out.contains(&Command::Count { name, by }), "{name}");
    }
}

#[test]
fn a_follower_asks_again_when_a_diff_starts_from_a_zxid_it_does_not_hold() {
    let mut f = follower_holding(vec![txn(1, 1)]);
    let sync = SyncMode::Diff {
        after: z(1, 2),
        txns: vec![txn(1, 3)],
    };
    let out = on(&mut f, 1, |s, ctx| {
        s.on_message(4, ZabMsg::NewLeader { epoch: 3, sync }, ctx)
    });
    assert_eq!(f.durable.history, vec![txn(1, 1)], "nothing applied");
    assert!(matches!(f.role, Role::Following { synced: false, .. }));
    assert_eq!(
        sends(&out),
        vec![(
            4,
            ZabMsg::CEpoch {
                accepted_epoch: 3,
                last_zxid: z(1, 1)
            }
        )]
    );
}

#[test]
fn follower_prefix_compares_the_whole_history_after_each_synchronization() {
    // A sync that kept a transaction the leader does not hold in the middle of the history,
    // with the right last transaction: the per-event check of the last one cannot see it.
    let h = vec![txn(1, 1), txn(1, 2), txn(2, 1)];
    let leader = leader_with(h.clone());
    let mut follower = restarted(1, ZabDurable::default());
    follower.durable.current_epoch = 2;
    follower.durable.history = h.clone();
    follower.role = Role::Following {
        leader: 0,
        synced: true,
    };
    follower.syncs = 1;
    let durable = vec![ZabDurable::default(); N];
    let mut states: Vec<Option<Zab>> = vec![None; N];
    states[0] = Some(leader);
    states[1] = Some(follower.clone());
    let mut inv = FollowerPrefix::default();
    assert!(check_durable(&mut inv, &states, &durable, 1));
    let mut wrong = h;
    wrong[1].op.seq = 99; // a different transaction under zxid 1.2
    follower.durable.history = wrong;
    follower.syncs = 2;
    states[1] = Some(follower);
    assert!(!check_durable(&mut inv, &states, &durable, 1));
}

// ------------------------------------------------------------------ the checkers can fail

/// The world after an event on `touched`, with these node states.
fn check<I: Invariant<Zab>>(inv: &mut I, states: &[Option<Zab>], touched: usize) -> bool {
    let durable = vec![ZabDurable::default(); states.len()];
    let last = vec![None; states.len()];
    let history = History::default();
    let w = World {
        now: SimTime::ZERO,
        states,
        durable: &durable,
        touched: Some(touched),
        last_event: &last,
        history: &history,
    };
    inv.check(&w).is_ok()
}

fn delivering(zxids: &[Zxid]) -> Zab {
    let mut n = restarted(0, ZabDurable::default());
    n.delivered = zxids.to_vec();
    n
}

#[test]
fn primary_order_flags_an_out_of_order_or_gapped_delivery() {
    let mut inv = PrimaryOrder::new(1);
    assert!(check(
        &mut inv,
        &[Some(delivering(&[z(1, 1), z(1, 2), z(2, 1)]))],
        0
    ));
    let mut inv = PrimaryOrder::new(1);
    assert!(
        !check(&mut inv, &[Some(delivering(&[z(1, 1), z(1, 3)]))], 0),
        "gap"
    );
    let mut inv = PrimaryOrder::new(1);
    assert!(
        !check(&mut inv, &[Some(delivering(&[z(2, 1), z(1, 5)]))], 0),
        "order"
    );
}

#[test]
fn agreement_flags_two_nodes_delivering_different_transactions_at_one_position() {
    let mut inv = Agreement::new(2);
    let states = [Some(delivering(&[z(1, 1)])), Some(delivering(&[z(2, 1)]))];
    assert!(check(&mut inv, &states, 0));
    assert!(!check(&mut inv, &states, 1));
}

#[test]
fn one_leader_per_epoch_flags_two_established_leaders_of_one_epoch() {
    // Two nodes each established in epoch 1, taken from a real run of the handlers.
    let leader = |id: usize| {
        let mut l = restarted(id, ZabDurable::default());
        let me = Vote {
            epoch: 0,
            zxid: z(0, 0),
            leader: id,
        };
        let others: Vec<usize> = (0..N).filter(|n| *n != id).take(2).collect();
        for &from in &others {
            on(&mut l, id, |s, ctx| {
                s.on_message(
                    from,
                    ZabMsg::Notification {
                        round: 1,
                        vote: me,
                        state: PeerState::Looking,
                    },
                    ctx,
                )
            });
        }
        on(&mut l, id, |s, ctx| s.on_timer(ZabTimer::Finalize, ctx));
        for &from in &others {
            on(&mut l, id, |s, ctx| {
                s.on_message(
                    from,
                    ZabMsg::CEpoch {
                        accepted_epoch: 0,
                        last_zxid: z(0, 0),
                    },
                    ctx,
                )
            });
        }
        for &from in &others {
            on(&mut l, id, |s, ctx| {
                s.on_message(
                    from,
                    ZabMsg::AckEpoch {
                        epoch: 1,
                        current_epoch: 0,
                        history: vec![],
                    },
                    ctx,
                )
            });
        }
        for &from in &others {
            on(&mut l, id, |s, ctx| {
                s.on_message(
                    from,
                    ZabMsg::AckNewLeader {
                        epoch: 1,
                        zxid: z(0, 0),
                    },
                    ctx,
                )
            });
        }
        l
    };
    let states = [Some(leader(0)), Some(leader(1))];
    let mut inv = OneLeaderPerEpoch::default();
    assert!(check(&mut inv, &states, 0));
    assert!(!check(&mut inv, &states, 1));
}

/// [`check`] with the nodes' durable states given.
fn check_durable<I: Invariant<Zab>>(
    inv: &mut I,
    states: &[Option<Zab>],
    durable: &[ZabDurable],
    touched: usize,
) -> bool {
    let last = vec![None; states.len()];
    let history = History::default();
    let w = World {
        now: SimTime::ZERO,
        states,
        durable,
        touched: Some(touched),
        last_event: &last,
        history: &history,
    };
    inv.check(&w).is_ok()
}

#[test]
fn epoch_acknowledged_once_flags_one_epoch_accepted_from_two_leaders() {
    // Phase 1: a follower acknowledges NEWEPOCH(e') only "if e' > f.p".
    let acked = |from: usize| ZabDurable {
        accepted_epoch: 3,
        accepted_from: Some(from),
        ..Default::default()
    };
    let states = [None, None, None];
    let mut inv = EpochAckedOnce::default();
    let mut durable = vec![ZabDurable::default(), acked(2), ZabDurable::default()];
    assert!(check_durable(&mut inv, &states, &durable, 1));
    assert!(
        check_durable(&mut inv, &states, &durable, 1),
        "a re-ack to the same leader"
    );
    durable[1] = acked(0);
    assert!(!check_durable(&mut inv, &states, &durable, 1));
}

#[test]
fn follower_prefix_flags_a_transaction_its_leader_does_not_hold() {
    let leader = established_leader();
    let mut follower = restarted(1, ZabDurable::default());
    follower.durable.current_epoch = 1;
    follower.durable.history = vec![txn(0, 5)];
    follower.role = Role::Following {
        leader: 0,
        synced: true,
    };
    let durable = vec![ZabDurable::default(); N];
    let mut states: Vec<Option<Zab>> = vec![None; N];
    states[0] = Some(leader.clone());
    states[1] = Some(follower);
    assert!(!check_durable(
        &mut FollowerPrefix::default(),
        &states,
        &durable,
        1
    ));
    let mut holds = leader;
    holds.durable.history = vec![txn(0, 5), txn(1, 1)];
    states[0] = Some(holds);
    assert!(check_durable(
        &mut FollowerPrefix::default(),
        &states,
        &durable,
        1
    ));
}

#[test]
fn established_by_quorum_flags_a_leader_broadcasting_before_a_quorum_accepted_its_history() {
    // Phase 2: the prospective leader "waits for ACK-LD from a quorum".
    let mut states: Vec<Option<Zab>> = vec![None; N];
    states[0] = Some(established_leader());
    let epoch = |e: u64| ZabDurable {
        current_epoch: e,
        ..Default::default()
    };
    let quorum = N / 2 + 1;
    let short: Vec<ZabDurable> = (0..N).map(|n| epoch(u64::from(n + 1 < quorum))).collect();
    assert!(!check_durable(
        &mut EstablishedByQuorum::default(),
        &states,
        &short,
        0
    ));
    let enough: Vec<ZabDurable> = (0..N).map(|n| epoch(u64::from(n < quorum))).collect();
    assert!(check_durable(
        &mut EstablishedByQuorum::default(),
        &states,
        &enough,
        0
    ));
}

// ------------------------------------------------------------------ scenarios and sweeps

#[test]
fn every_bundled_zab_scenario_meets_its_expectations() {
    let n = distsim::testing::assert_bundled_scenarios_pass(|p| {
        p.starts_with("scenarios/zab/") || p == "scenarios/compare/zab.ron"
    });
    assert!(n >= 7, "only {n} zab scenarios found");
}

#[test]
fn correct_zab_survives_2000_seeds_of_crashes_partitions_pauses_and_loss() {
    distsim::testing::assert_sweep_passes("scenarios/zab/chaos.ron", 0..2000);
}
