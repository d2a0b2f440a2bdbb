//! The scenarios shipped in `scenarios/`, embedded at build time (see `build.rs`).

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// The scenario the app opens with no file: five Raft servers, a leader crash and a restart.
pub const DEFAULT_SCENARIO: &str = "scenarios/raft/default.ron";

/// A bundled scenario's text by its path (`scenarios/raft/first-election.ron`).
pub fn get(path: &str) -> Option<&'static str> {
    BUNDLED.iter().find(|(p, _)| *p == path).map(|(_, t)| *t)
}

/// The default scenario's path and text.
pub fn default_scenario() -> (&'static str, &'static str) {
    let text = get(DEFAULT_SCENARIO).expect("the default scenario is bundled");
    (DEFAULT_SCENARIO, text)
}
