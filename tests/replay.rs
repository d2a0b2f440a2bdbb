//! A live session (user actions at arbitrary times) saved as a scenario replays exactly.

use distsim::registry::{self, RunOptions};
use distsim::sim::{Action, SimTime};

#[test]
fn a_saved_session_replays_to_the_same_digest() {
    let (path, text) = (
        "scenarios/relay/chaos.ron",
        distsim::bundled::get("scenarios/relay/chaos.ron").unwrap(),
    );
    let mut live = registry::load(
        text,
        path,
        &RunOptions {
            seed: Some(99),
            ..Default::default()
        },
    )
    .unwrap();
    let sim = live.sim.as_mut();
    sim.run_until(SimTime::from_millis(700));
    for _ in 0..5 {
        sim.step(); // stop in the middle of an instant, as the app's "step" does
    }
    sim.apply(Action::Partition(vec![vec!["n1".into(), "n2".into()]]))
        .unwrap();
    sim.run_until(SimTime::from_millis(1_234));
    sim.apply(Action::Heal).unwrap();
    sim.apply(Action::Crash("n5".into())).unwrap();
    sim.run_until(SimTime::from_millis(3_500));
    sim.apply(Action::Restart("n5".into())).unwrap();
    sim.run_until(live.info.duration);
    let saved = registry::save(text, path, 99, sim.recorded()).unwrap();
    assert!(saved.contains("Partition"), "{saved}");

    let mut replay = registry::load(&saved, "saved.ron", &RunOptions::default()).unwrap();
    assert_eq!(replay.info.seed, 99);
    replay.sim.run_until(replay.info.duration);
    assert_eq!(
        format!("{:016x}", sim.trace().digest()),
        format!("{:016x}", replay.sim.trace().digest()),
        "the saved scenario must replay the session exactly:\n{saved}"
    );
    // Saving again gives the same text: the writer is stable.
    let again = registry::save(&saved, "saved.ron", 99, &[]).unwrap();
    assert_eq!(saved, again);
}

#[test]
fn replaying_recorded_actions_through_run_options_matches_too() {
    let (path, text) = (
        "scenarios/relay/random-walk.ron",
        distsim::bundled::get("scenarios/relay/random-walk.ron").unwrap(),
    );
    let mut live = registry::load(text, path, &RunOptions::default()).unwrap();
    live.sim.run_until(SimTime::from_millis(2_000));
    live.sim
        .apply(Action::Cut("n1".into(), "n3".into()))
        .unwrap();
    live.sim.run_until(live.info.duration);
    let opts = RunOptions {
        extra: live.sim.recorded().to_vec(),
        ..Default::default()
    };
    let mut again = registry::load(text, path, &opts).unwrap();
    again.sim.run_until(again.info.duration);
    assert_eq!(live.sim.trace().digest(), again.sim.trace().digest());
}
