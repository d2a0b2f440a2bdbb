//! The app's model of one open scenario: the running simulation, the displayed time (the
//! cursor), and the user's recorded actions. Pure Rust, no window: tested without Bevy.
//!
//! The cursor can be anywhere up to the simulation's clock; everything before the clock is
//! drawn from the trace. Acting at a past cursor forks: the simulation is rebuilt from the
//! seed with the actions before the cursor, run to the cursor, and the new action is applied
//! there, so the recorded actions always replay the session exactly.

use crate::registry::{self, Loaded, RunOptions, ScenarioInfo};
use crate::scenario::ScenarioError;
use crate::sim::dynsim::DynSim;
use crate::sim::{Action, SimTime};
use crate::visual::picture::TraceIndex;
use crate::visual::spacetime::{self, SpaceTime};

pub struct Session {
    pub info: ScenarioInfo,
    pub sim: Box<dyn DynSim>,
    pub seed: u64,
    /// The user's actions on this timeline, in time order.
    pub actions: Vec<(SimTime, Action)>,
    /// The displayed instant (never after `sim.now()`).
    pub cursor: SimTime,
    pub index: TraceIndex,
    /// The space-time diagram's index: brought up to date by [`Session::spacetime`], only
    /// while the diagram is shown.
    spacetime: SpaceTime,
}

impl Session {
    pub fn open(text: &str, file: &str, seed: Option<u64>) -> Result<Session, ScenarioError> {
        let Loaded { info, sim } = registry::load(
            text,
            file,
            &RunOptions {
                seed,
                ..Default::default()
            },
        )?;
        let mut s = Session {
            seed: info.seed,
            index: TraceIndex::new(info.names.len()),
            spacetime: SpaceTime::new(info.names.len()),
            info,
            sim,
            actions: Vec::new(),
            cursor: SimTime::ZERO,
        };
        s.index.update(s.sim.trace(), &s.info.names);
        Ok(s)
    }

    /// Rebuilds the simulation from the seed with the given actions.
    fn rebuild(&mut self, actions: Vec<(SimTime, Action)>) {
        let opts = RunOptions {
            seed: Some(self.seed),
            extra: actions.clone(),
            ..Default::default()
        };
        let Loaded { info, sim } = registry::load(&self.info.text, &self.info.file, &opts)
            .expect("a scenario that loaded once loads again");
        self.info = info;
        self.sim = sim;
        self.actions = actions;
        self.index = TraceIndex::new(self.info.names.len());
        self.index.update(self.sim.trace(), &self.info.names);
        self.spacetime = SpaceTime::new(self.info.names.len());
        self.cursor = SimTime::ZERO;
    }

    /// Reads the trace's new events into the space-time diagram's index.
    pub fn refresh_spacetime(&mut self) {
        let (index, names) = (&self.index, &self.info.names);
        self.spacetime.update(self.sim.trace(), |t| {
            spacetime::minority(&index.network_at(t, names).groups())
        });
    }

    /// The space-time diagram's index as of the last [`Session::refresh_spacetime`].
    pub fn spacetime(&self) -> &SpaceTime {
        &self.spacetime
    }

    /// Back to time zero with the same seed and actions.
    pub fn restart(&mut self) {
        let a = self.actions.clone();
        self.rebuild(a);
    }

    /// A new seed; the recorded actions are kept.
    pub fn reseed(&mut self, seed: u64) {
        self.seed = seed;
        self.restart();
    }

    pub fn duration(&self) -> SimTime {
        self.info.duration
    }

    /// Runs the simulation towards `t` (at most `max_steps` events, so a frame stays short)
    /// and moves the cursor as far as it got. Returns true when the cursor reached `t`.
    pub fn advance_to(&mut self, t: SimTime, max_steps: u64) -> bool {
        let t = t.min(self.duration());
        if t <= self.sim.now() {
            self.cursor = t;
            return true;
        }
        let mut steps = 0;
        while steps < max_steps && self.sim.next_event_at().is_some_and(|at| at <= t) {
            if !self.sim.step() {
                break;
            }
            steps += 1;
        }
        let reached =
            self.sim.next_event_at().is_none_or(|at| at > t) && !self.sim.step_limit_hit();
        if reached {
            self.sim.run_until(t);
        }
        self.index.update(self.sim.trace(), &self.info.names);
        self.cursor = if reached { t } else { self.sim.now() };
        reached
    }

    /// Moves the cursor (backwards is free; forwards runs the simulation).
    pub fn seek(&mut self, t: SimTime) {
        self.advance_to(t, u64::MAX);
    }

    /// One event forward: the next trace event after the cursor, or one more simulation step.
    pub fn step_event(&mut self) {
        if self.cursor < self.sim.now() {
            let t = self.sim.trace();
            let i = t.partition_point(self.cursor);
            self.cursor = t
                .events()
                .get(i)
                .map_or(self.sim.now(), |e| e.time.min(self.sim.now()));
            return;
        }
        if self.sim.step() {
            self.cursor = self.sim.now();
        }
        self.index.update(self.sim.trace(), &self.info.names);
    }

    /// Runs to the next role change, fault, note, caption or violation (within `max_steps`).
    pub fn next_interesting(&mut self, max_steps: u64) -> bool {
        let mut steps = 0;
        loop {
            if let Some(m) = self.index.next_marker_after(self.cursor) {
                let t = m.time;
                self.seek(t);
                return true;
            }
            if steps >= max_steps || !self.sim.step() {
                self.cursor = self.sim.now();
                return false;
            }
            steps += 1;
            self.index.update(self.sim.trace(), &self.info.names);
        }
    }

    /// Applies a user action at the cursor, forking the future if the cursor is in the past.
    pub fn act(&mut self, action: Action) -> Result<(), String> {
        for n in action.node_names() {
            if !self.info.names.iter().any(|x| x == n) {
                return Err(format!("unknown node `{n}`"));
            }
        }
        if self.cursor < self.sim.now() || self.actions.iter().any(|(t, _)| *t > self.cursor) {
            let at = self.cursor;
            let kept: Vec<_> = self
                .actions
                .iter()
                .filter(|(t, _)| *t <= at)
                .cloned()
                .collect();
            self.rebuild(kept);
            self.seek(at);
        }
        self.sim.apply(action.clone())?;
        self.actions.push((self.sim.now(), action));
        self.cursor = self.sim.now();
        self.index.update(self.sim.trace(), &self.info.names);
        Ok(())
    }

    /// The session as a scenario file that replays it exactly.
    pub fn save(&self) -> Result<String, ScenarioError> {
        registry::save(&self.info.text, &self.info.file, self.seed, &self.actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &str) -> Session {
        Session::open(crate::bundled::get(path).unwrap(), path, None).unwrap()
    }

    #[test]
    fn scrubbing_back_is_drawn_from_the_trace_without_rerunning() {
        let mut s = open("scenarios/relay/random-walk.ron");
        s.seek(SimTime::from_secs(6));
        let events = s.sim.trace().len();
        s.seek(SimTime::from_secs(2));
        assert_eq!(s.cursor, SimTime::from_secs(2));
        assert_eq!(
            s.sim.now(),
            SimTime::from_secs(6),
            "the simulation did not move"
        );
        assert_eq!(s.sim.trace().len(), events);
    }

    #[test]
    fn acting_in_the_past_forks_and_the_saved_session_replays_exactly() {
        let mut s = open("scenarios/relay/chaos.ron");
        s.seek(SimTime::from_millis(1_500));
        s.act(Action::Crash("n1".into())).unwrap();
        s.seek(SimTime::from_millis(3_000));
        s.act(Action::Restart("n1".into())).unwrap();
        // Back to 1s and act again: the crash at 1.5s and restart at 3s are gone.
        s.seek(SimTime::from_millis(1_000));
        s.act(Action::Partition(vec![vec!["n2".into()]])).unwrap();
        assert_eq!(s.actions.len(), 1);
        assert_eq!(s.actions[0].0, SimTime::from_millis(1_000));
        s.seek(s.duration());
        let saved = s.save().unwrap();
        let mut replay = Session::open(&saved, "saved.ron", None).unwrap();
        replay.seek(replay.duration());
        assert_eq!(
            s.sim.trace().digest(),
            replay.sim.trace().digest(),
            "{saved}"
        );
    }

    #[test]
    fn advance_respects_the_step_budget() {
        let mut s = open("scenarios/relay/chaos.ron");
        let reached = s.advance_to(SimTime::from_secs(5), 10);
        assert!(!reached);
        assert!(s.cursor < SimTime::from_secs(5));
        assert!(s.sim.steps() <= 10);
        while !s.advance_to(SimTime::from_secs(5), 10) {}
        assert_eq!(s.cursor, SimTime::from_secs(5));
    }

    #[test]
    fn next_interesting_stops_at_markers() {
        let mut s = open("scenarios/relay/random-walk.ron");
        s.seek(SimTime::from_secs(4));
        assert!(s.next_interesting(1_000_000));
        assert_eq!(
            s.cursor,
            SimTime::from_micros(4_111_010),
            "n2 becomes relay (see the run)"
        );
        s.seek(SimTime::from_millis(5_200));
        assert!(s.next_interesting(1_000_000));
        assert_eq!(
            s.cursor,
            SimTime::from_secs(8),
            "the heal: no token is left to move before it"
        );
    }

    #[test]
    fn restart_and_reseed_keep_the_actions() {
        let mut s = open("scenarios/relay/random-walk.ron");
        s.seek(SimTime::from_secs(1));
        s.act(Action::Crash("n3".into())).unwrap();
        s.seek(SimTime::from_secs(3));
        let d1 = s.sim.trace().digest();
        s.restart();
        assert_eq!(s.cursor, SimTime::ZERO);
        s.seek(SimTime::from_secs(3));
        assert_eq!(s.sim.trace().digest(), d1);
        s.reseed(12345);
        s.seek(SimTime::from_secs(3));
        assert_ne!(s.sim.trace().digest(), d1);
        assert_eq!(s.actions.len(), 1);
    }
}
