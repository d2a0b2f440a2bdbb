//! Handler tests: each feeds one input to one role and asserts the exact commands recorded,
//! quoting the rule of Temporal's docs it checks.

use super::code::{DEADLINE, replay};
use super::*;
use crate::sim::{Command as Cmd, RoleTable, SimTime};
use rand::SeedableRng;

const CLIENT: NodeId = 0;
const SERVER: NodeId = 1;
const W1: NodeId = 2;
const W2: NodeId = 3;

fn roles() -> RoleTable {
    let names = ["client", "server", "worker", "worker", "payment", "barista"];
    RoleTable::new(
        &["client", "server", "worker", "payment", "barista"],
        &names.map(String::from),
    )
}

fn step_at(id: NodeId, now: SimTime, f: impl FnOnce(&mut Ctx<Workflow>)) -> Vec<Cmd<Workflow>> {
    let roles = roles();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut out = Vec::new();
    let mut ctx = Ctx::new(id, 6, now, &mut rng, &mut out).with_roles(&roles);
    f(&mut ctx);
    out
}

fn step(id: NodeId, f: impl FnOnce(&mut Ctx<Workflow>)) -> Vec<Cmd<Workflow>> {
    step_at(id, SimTime::ZERO, f)
}

fn node(cfg: &WorkflowConfig, id: NodeId) -> Workflow {
    let mut s = None;
    step(id, |ctx| s = Some(Workflow::init(cfg, ctx)));
    s.expect("built")
}

fn sends(cmds: &[Cmd<Workflow>]) -> Vec<(NodeId, WfMsg)> {
    cmds.iter()
        .filter_map(|c| match c {
            Cmd::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

fn history(w: &Workflow, wf: WorkflowId) -> Vec<Event> {
    let Part::Server(s) = &w.part else { panic!() };
    s.db.executions[&wf].history.clone()
}

/// A server that has started order 0 and handed its first workflow task to `W1`.
fn server_with_task(cfg: &WorkflowConfig) -> Workflow {
    let mut s = node(cfg, SERVER);
    step(SERVER, |ctx| {
        s.on_message(CLIENT, WfMsg::StartWorkflowExecution { workflow: 0 }, ctx);
        s.on_message(W1, WfMsg::PollWorkflowTaskQueue, ctx);
    });
    s
}

fn schedule(id: ActivityId, activity: Activity, maximum_attempts: u32) -> Command {
    Command::ScheduleActivityTask {
        activity_id: id,
        activity,
        maximum_attempts,
    }
}

#[test]
fn a_started_workflow_is_recorded_then_handed_to_a_poller_with_its_history() {
    // Temporal: "WorkflowExecutionStarted: this is always the first Event in a Workflow
    // Execution Event History"; a Workflow Task is scheduled, then started by a polling Worker.
    let cfg = WorkflowConfig::default();
    let mut s = node(&cfg, SERVER);
    let cmds = step(SERVER, |ctx| {
        s.on_message(CLIENT, WfMsg::StartWorkflowExecution { workflow: 0 }, ctx)
    });
    assert!(
        matches!(&cmds[..], [Cmd::Count { .. }, Cmd::Persist(_)]),
        "{cmds:?}"
    );
    assert_eq!(
        history(&s, 0),
        vec![
            Event::WorkflowExecutionStarted { at: SimTime::ZERO },
            Event::WorkflowTaskScheduled
        ]
    );
    let cmds = step(SERVER, |ctx| {
        s.on_message(W1, WfMsg::PollWorkflowTaskQueue, ctx)
    });
    let task = WfMsg::WorkflowTask {
        workflow: 0,
        started: 2,
        history: history(&s, 0),
    };
    assert_eq!(sends(&cmds), vec![(W1, task)]);
    assert!(cmds.contains(&Cmd::SetTimer {
        timer: WorkflowTimer::WorkflowTaskTimeout(0, 2),
        after: cfg.workflow_task_timeout
    }));
}

#[test]
fn commands_are_recorded_after_workflow_task_completed_and_a_stale_answer_is_ignored() {
    let cfg = WorkflowConfig::default();
    let mut s = server_with_task(&cfg);
    let commands = vec![
        Command::StartTimer {
            timer_id: DEADLINE,
            after: cfg.pickup_deadline,
        },
        schedule(1, Activity::TakeOrder, 5),
    ];
    let stale = WfMsg::RespondWorkflowTaskCompleted {
        workflow: 0,
        started: 7,
        commands: commands.clone(),
    };
    let cmds = step(SERVER, |ctx| s.on_message(W1, stale, ctx));
    assert!(!cmds.iter().any(|c| matches!(c, Cmd::Persist(_))));
    let answer = WfMsg::RespondWorkflowTaskCompleted {
        workflow: 0,
        started: 2,
        commands,
    };
    step(SERVER, |ctx| s.on_message(W1, answer, ctx));
    let h = history(&s, 0);
    assert_eq!(
        h[3..],
        [
            Event::WorkflowTaskCompleted,
            Event::TimerStarted {
                timer_id: DEADLINE,
                after: cfg.pickup_deadline
            },
            Event::ActivityTaskScheduled {
                activity_id: 1,
                activity: Activity::TakeOrder,
                maximum_attempts: 5
            }
        ]
    );
}

#[test]
fn a_workflow_task_lost_with_its_worker_times_out_and_goes_to_another_worker() {
    // Temporal: "Workflow Task Timeout: the maximum amount of time allowed for a Worker to
    // execute a Workflow Task after the Worker has pulled that Workflow Task".
    let cfg = WorkflowConfig::default();
    let mut s = server_with_task(&cfg);
    let cmds = step_at(SERVER, SimTime::from_millis(100), |ctx| {
        s.on_message(W2, WfMsg::PollWorkflowTaskQueue, ctx);
        s.on_timer(WorkflowTimer::WorkflowTaskTimeout(0, 2), ctx);
    });
    let h = history(&s, 0);
    assert_eq!(
        h[3..],
        [
            Event::WorkflowTaskTimedOut,
            Event::WorkflowTaskScheduled,
            Event::WorkflowTaskStarted { worker: W2 }
        ]
    );
    assert!(matches!(
        &sends(&cmds)[..],
        [(W2, WfMsg::WorkflowTask { started: 5, .. })]
    ));
}

/// A server whose order 0 has TakeOrder scheduled (at most `attempts` attempts) and polled.
fn server_with_activity(cfg: &WorkflowConfig, attempts: u32) -> Workflow {
    let mut s = server_with_task(cfg);
    let answer = WfMsg::RespondWorkflowTaskCompleted {
        workflow: 0,
        started: 2,
        commands: vec![schedule(1, Activity::TakeOrder, attempts)],
    };
    step(SERVER, |ctx| {
        s.on_message(W1, answer, ctx);
        s.on_message(W1, WfMsg::PollActivityTaskQueue, ctx);
    });
    s
}

#[test]
fn an_attempt_past_its_start_to_close_timeout_is_retried_after_the_retry_interval() {
    // Temporal: "A Start-To-Close Timeout is the maximum time allowed for a single Activity
    // Task Execution"; on a timeout the Activity is retried per its Retry Policy.
    let cfg = WorkflowConfig::default();
    let mut s = server_with_activity(&cfg, 2);
    let cmds = step(SERVER, |ctx| {
        s.on_timer(WorkflowTimer::StartToClose(0, 1, 1), ctx)
    });
    assert!(cmds.contains(&Cmd::SetTimer {
        timer: WorkflowTimer::ActivityRetry(0, 1),
        after: cfg.retry.initial_interval
    }));
    let cmds = step(SERVER, |ctx| {
        s.on_message(W2, WfMsg::PollActivityTaskQueue, ctx);
        s.on_timer(WorkflowTimer::ActivityRetry(0, 1), ctx);
    });
    let attempt2 = WfMsg::ActivityTask {
        workflow: 0,
        activity_id: 1,
        activity: Activity::TakeOrder,
        attempt: 2,
    };
    assert_eq!(sends(&cmds), vec![(W2, attempt2)]);
    // The late answer of attempt 1 is stale; attempt 2 timing out is the last.
    let late = WfMsg::RespondActivityTaskCompleted {
        workflow: 0,
        activity_id: 1,
        attempt: 1,
    };
    step(SERVER, |ctx| s.on_message(W1, late, ctx));
    step(SERVER, |ctx| {
        s.on_timer(WorkflowTimer::StartToClose(0, 1, 2), ctx)
    });
    let h = history(&s, 0);
    assert_eq!(
        h[h.len() - 3..],
        [
            Event::ActivityTaskStarted {
                activity_id: 1,
                attempt: 2,
                worker: W2
            },
            Event::ActivityTaskTimedOut { activity_id: 1 },
            Event::WorkflowTaskScheduled
        ]
    );
}

#[test]
fn a_restarted_service_rearms_its_timers_and_timeouts_from_its_stored_state() {
    // Temporal: a Timer is durable: "Timers are persisted" by the Temporal Service.
    let cfg = WorkflowConfig::default();
    let mut s = server_with_task(&cfg);
    let answer = WfMsg::RespondWorkflowTaskCompleted {
        workflow: 0,
        started: 2,
        commands: vec![
            Command::StartTimer {
                timer_id: DEADLINE,
                after: SimTime::from_secs(20),
            },
            schedule(1, Activity::TakeOrder, 5),
        ],
    };
    step(SERVER, |ctx| {
        s.on_message(W1, answer, ctx);
        s.on_message(W1, WfMsg::PollActivityTaskQueue, ctx);
    });
    let Part::Server(srv) = &s.part else { panic!() };
    let d = WorkflowDurable {
        server: srv.db.clone(),
        ..Default::default()
    };
    let cmds = step_at(SERVER, SimTime::from_secs(5), |ctx| {
        Workflow::on_restart(&cfg, &d, ctx);
    });
    assert!(cmds.contains(&Cmd::SetTimer {
        timer: WorkflowTimer::Timer(0, DEADLINE),
        after: SimTime::from_secs(15)
    }));
    assert!(cmds.contains(&Cmd::SetTimer {
        timer: WorkflowTimer::StartToClose(0, 1, 1),
        after: cfg.start_to_close_timeout
    }));
}

/// The history of an order whose first three activities completed, ending with a new
/// workflow task started.
fn history_after_brew(cfg: &WorkflowConfig) -> Vec<Event> {
    let mut h = vec![Event::WorkflowExecutionStarted { at: SimTime::ZERO }];
    let task = |h: &mut Vec<Event>| {
        h.push(Event::WorkflowTaskScheduled);
        h.push(Event::WorkflowTaskStarted { worker: W1 });
    };
    task(&mut h);
    h.push(Event::WorkflowTaskCompleted);
    h.push(Event::TimerStarted {
        timer_id: DEADLINE,
        after: cfg.pickup_deadline,
    });
    let acts = [Activity::TakeOrder, Activity::ChargeCard, Activity::Brew];
    for (i, a) in acts.into_iter().enumerate() {
        let id = i as u32 + 1;
        if i > 0 {
            h.push(Event::WorkflowTaskCompleted);
        }
        h.push(Event::of(schedule(id, a, cfg.retry.maximum_attempts)));
        h.push(Event::ActivityTaskStarted {
            activity_id: id,
            attempt: 1,
            worker: W1,
        });
        h.push(Event::ActivityTaskCompleted { activity_id: id });
        task(&mut h);
    }
    h
}

#[test]
fn replay_on_another_worker_skips_completed_activities_and_issues_only_new_commands() {
    // Temporal: on replay, "if a command was already completed, the SDK uses the result from
    // the Event History instead of executing it again".
    let cfg = WorkflowConfig::default();
    let h = history_after_brew(&cfg);
    let mut w = node(&cfg, W2);
    let task = WfMsg::WorkflowTask {
        workflow: 0,
        started: h.len() - 1,
        history: h.clone(),
    };
    let cmds = step_at(W2, SimTime::from_secs(3), |ctx| {
        w.on_message(SERVER, task, ctx)
    });
    let answer = WfMsg::RespondWorkflowTaskCompleted {
        workflow: 0,
        started: h.len() - 1,
        commands: vec![
            Command::CancelTimer { timer_id: DEADLINE },
            schedule(4, Activity::Notify, 0),
        ],
    };
    assert_eq!(
        sends(&cmds),
        vec![(SERVER, answer), (SERVER, WfMsg::PollWorkflowTaskQueue)]
    );
    // No call to any service: the three completed activities were not run again.
    let Part::Worker(wk) = &w.part else { panic!() };
    assert_eq!((wk.skipped, wk.last.produced.len()), (3, 3));
}

#[test]
fn a_clock_reading_workflow_diverges_on_replay_and_the_worker_fails_the_task() {
    // Temporal: "Workflow code must be deterministic"; a mismatch on replay is a
    // non-determinism error.
    let cfg = WorkflowConfig {
        nondeterministic_workflow: true,
        ..Default::default()
    };
    let mut h = history_after_brew(&WorkflowConfig::default());
    h.truncate(5);
    h.extend([
        Event::of(schedule(1, Activity::TakeOrder, 5)),
        Event::ActivityTaskStarted {
            activity_id: 1,
            attempt: 1,
            worker: W1,
        },
        Event::ActivityTaskCompleted { activity_id: 1 },
        Event::WorkflowTaskScheduled,
        Event::WorkflowTaskStarted { worker: W2 },
    ]);
    // At time 0 the buggy code computes what the history recorded: no divergence.
    assert_eq!(replay(&h, &cfg, SimTime::ZERO).diverged, None);
    let later = replay(&h, &cfg, SimTime::from_secs(1));
    assert!(
        later
            .diverged
            .is_some_and(|d| d.contains("StartTimer 19.000s"))
    );
    let mut w = node(&cfg, W2);
    let task = WfMsg::WorkflowTask {
        workflow: 0,
        started: h.len() - 1,
        history: h.clone(),
    };
    let cmds = step_at(W2, SimTime::from_secs(1), |ctx| {
        w.on_message(SERVER, task, ctx)
    });
    let failed = WfMsg::RespondWorkflowTaskFailed {
        workflow: 0,
        started: h.len() - 1,
    };
    assert_eq!(sends(&cmds)[0], (SERVER, failed));
    // Deterministic code replays the same history the same at any time.
    let ok = replay(&h, &WorkflowConfig::default(), SimTime::from_secs(1));
    assert_eq!(ok.diverged, None);
    assert_eq!(ok.commands, vec![schedule(2, Activity::ChargeCard, 5)]);
}

#[test]
fn a_cancel_signal_after_the_charge_refunds_then_cancels_and_a_failed_brew_compensates() {
    // The seed guide: compensation "when payment succeeded but brewing failed".
    let cfg = WorkflowConfig::default();
    let mut h = history_after_brew(&cfg);
    // Replace Brew's completion with a failure.
    let n = h.len();
    h[n - 3] = Event::ActivityTaskFailed { activity_id: 3 };
    let r = replay(&h, &cfg, SimTime::ZERO);
    assert_eq!(r.commands, vec![schedule(4, Activity::RefundCard, 0)]);
    h.push(Event::WorkflowTaskCompleted);
    h.push(Event::of(schedule(4, Activity::RefundCard, 0)));
    h.push(Event::ActivityTaskCompleted { activity_id: 4 });
    h.push(Event::WorkflowTaskScheduled);
    h.push(Event::WorkflowTaskStarted { worker: W1 });
    let r = replay(&h, &cfg, SimTime::ZERO);
    assert_eq!(r.commands, vec![Command::Finish(End::Compensated)]);
    // A cancel signal while ChargeCard ran: refund, then cancel.
    let mut h = history_after_brew(&cfg);
    h.truncate(16); // up to ChargeCard's completion and the next task started
    assert_eq!(h[13], Event::ActivityTaskCompleted { activity_id: 2 });
    h.insert(
        12,
        Event::WorkflowExecutionSignaled {
            signal: Signal::Cancel,
        },
    );
    let r = replay(&h, &cfg, SimTime::ZERO);
    assert_eq!(r.commands, vec![schedule(3, Activity::RefundCard, 0)]);
}

#[test]
fn a_service_applies_a_keyed_effect_once_and_persists_it_before_answering() {
    let cfg = WorkflowConfig::default();
    let mut p = node(&cfg, 4);
    let call = WfMsg::Invoke {
        workflow: 0,
        activity_id: 2,
        activity: Activity::ChargeCard,
        attempt: 1,
    };
    let cmds = step(4, |ctx| p.on_message(W1, call.clone(), ctx));
    assert!(matches!(&cmds[0], Cmd::Persist(d) if d.store.balance == cfg.amount));
    let again = step(4, |ctx| p.on_message(W2, call, ctx));
    assert!(!again.iter().any(|c| matches!(c, Cmd::Persist(_))));
    let done = WfMsg::Invoked {
        workflow: 0,
        activity_id: 2,
        attempt: 1,
        outcome: Outcome::Done,
    };
    assert_eq!(sends(&again), vec![(W2, done)]);
}
