//! The command line as scripts and graders use it.

use std::process::Command;

fn distsim(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_distsim"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn run_json_has_the_fields_scripts_rely_on() {
    let (code, out, err) = distsim(&["run", "scenarios/raft/default.ron", "--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for field in [
        "digest",
        "events",
        "messages",
        "violations",
        "expectations",
        "passed",
    ] {
        assert!(v.get(field).is_some(), "missing {field}");
    }
    assert_eq!(v["digest"].as_str().unwrap().len(), 16);
    assert!(v["messages"]["sent"]["AppendEntries"].as_u64().unwrap() > 0);
    assert_eq!(v["passed"], true);
}

#[test]
fn a_bounded_run_keeps_the_digest() {
    let full = distsim(&["run", "scenarios/raft/leader-crash.ron", "--format", "json"]).1;
    let bounded = distsim(&[
        "run",
        "scenarios/raft/leader-crash.ron",
        "--format",
        "json",
        "--keep-events",
        "50",
    ])
    .1;
    let (a, b): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(&full).unwrap(),
        serde_json::from_str(&bounded).unwrap(),
    );
    assert_eq!(a["digest"], b["digest"]);
    assert_eq!(a["events"], b["events"]);
}

#[test]
fn a_bug_scenario_run_passes_because_it_expects_its_violation() {
    let (code, out, _) = distsim(&["run", "scenarios/raft/bug-forget-vote.ron"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("VIOLATED Election Safety"));
}

#[test]
fn check_results_do_not_depend_on_the_number_of_jobs() {
    let args = |jobs: &'static str| {
        [
            "check",
            "scenarios/raft/sweeps/skip-up-to-date.ron",
            "--seeds",
            "0..40",
            "--jobs",
            jobs,
            "--format",
            "json",
        ]
    };
    let (c1, one, _) = distsim(&args("1"));
    let (c2, two, _) = distsim(&args("2"));
    assert_eq!(one, two);
    assert_eq!(c1, Some(1), "the bug is found: exit 1");
    assert_eq!(c2, Some(1));
    let v: serde_json::Value = serde_json::from_str(&one).unwrap();
    let first = v["violating_seeds"][0]
        .as_u64()
        .expect("at least one violating seed");
    // The reported seed reproduces with `run`.
    let (code, out, _) = distsim(&[
        "run",
        "scenarios/raft/sweeps/skip-up-to-date.ron",
        "--seed",
        &first.to_string(),
    ]);
    // The sweep file expects its violation, so reproducing it is a pass (exit 0).
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("VIOLATED Leader Completeness"), "{out}");
}

#[test]
fn bad_seed_ranges_and_bench_sizes_are_refused_with_exit_2() {
    assert_eq!(
        distsim(&["check", "scenarios/raft/default.ron", "--seeds", "9..3"]).0,
        Some(2)
    );
    assert_eq!(
        distsim(&["check", "scenarios/raft/default.ron", "--seeds", "x"]).0,
        Some(2)
    );
    assert_eq!(distsim(&["bench", "--nodes", "1"]).0, Some(2));
}

#[test]
fn bench_prints_one_parseable_line() {
    let (code, out, _) = distsim(&["bench", "--nodes", "10", "--deliveries", "20000"]);
    assert_eq!(code, Some(0));
    let line = out.trim();
    assert!(
        line.starts_with("deliveries_per_sec=") && line.contains(" ns_per_delivery="),
        "{line}"
    );
    let per_sec: f64 = line
        .split_whitespace()
        .next()
        .unwrap()
        .trim_start_matches("deliveries_per_sec=")
        .parse()
        .unwrap();
    assert!(per_sec > 0.0);
}

#[test]
fn list_names_every_protocol_and_a_closed_pipe_is_fine() {
    let (code, out, _) = distsim(&["list"]);
    assert_eq!(code, Some(0));
    for p in [
        "raft",
        "paxos",
        "multi_paxos",
        "zab",
        "two_phase_commit",
        "three_phase_commit",
        "token_ring",
        "gossip",
        "relay",
    ] {
        assert!(out.contains(p), "{p} missing from list");
    }
}
