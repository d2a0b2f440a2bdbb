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

/// A scratch file for one test (tests run in parallel: the name says which).
fn scratch(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("distsim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// A small relay scenario with the given extra fields (expectations, ...).
fn relay(extra: &str) -> String {
    format!(
        "(name: \"t\", title: \"t\", protocol: \"relay\", config: (tokens: 3), nodes: Count(4), \
         seed: 1, duration: \"2s\", network: (latency: Uniform(min: \"5ms\", max: \"20ms\")), {extra})"
    )
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn check_names_each_seed_that_misses_an_expectation_and_exits_1() {
    // A counter the relay never counts: every seed misses it, none violates anything.
    let f = scratch(
        "unmet.ron",
        &relay("expect: [NoViolation, Counter(name: \"never_counted\", at_least: 1)]"),
    );
    let (code, out, err) = distsim(&["check", &f, "--seeds", "0..3"]);
    assert_eq!(code, Some(1), "a failed expectation exits 1: {out}{err}");
    for seed in 0..3 {
        assert!(
            out.contains(&format!(
                "seed {seed}: expectation failed: never_counted >= 1"
            )),
            "{out}"
        );
        assert!(
            out.contains(&format!("reproduce: distsim run {f} --seed {seed}")),
            "{out}"
        );
    }
    let (code, out, _) = distsim(&["check", &f, "--seeds", "0..3", "--format", "json"]);
    assert_eq!(code, Some(1));
    let v = json(&out);
    assert_eq!(v["unmet_seeds"], serde_json::json!([0, 1, 2]));
    let first = &v["failures"][0];
    assert_eq!(first["seed"], 0);
    assert_eq!(
        first["reproduce"].as_str().unwrap(),
        format!("distsim run {f} --seed 0")
    );
    assert!(
        first["expectations_failed"][0]
            .as_str()
            .unwrap()
            .starts_with("never_counted >= 1"),
        "{first}"
    );
    // The digest is printed as `run` prints it (this seed ran to the end, so they are equal).
    let run = json(&distsim(&["run", &f, "--seed", "0", "--format", "json"]).1);
    assert_eq!(first["digest"], run["digest"]);
}

#[test]
fn an_unwritable_trace_path_is_refused_before_the_run() {
    // This run would take minutes (it stops only at the step limit): the refusal must not wait.
    let f = scratch(
        "endless.ron",
        "(name: \"t\", title: \"t\", protocol: \"relay\", config: (tokens: 500, hold: \"0s\"), \
         nodes: Count(50), seed: 1, duration: \"1440min\", \
         network: (latency: Uniform(min: \"1ms\", max: \"2ms\")))",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_distsim"))
        .args(["run", &f, "--trace", "/nonexistent-dir/trace.jsonl"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > std::time::Duration::from_secs(30) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("an unwritable --trace was not refused before running");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot write trace to /nonexistent-dir/trace.jsonl"),
        "{err}"
    );
}

#[test]
fn the_trace_file_is_complete_whatever_keep_events_keeps() {
    let dir = std::env::temp_dir().join(format!("distsim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let full = dir.join("full.jsonl").to_string_lossy().into_owned();
    let kept = dir.join("kept.jsonl").to_string_lossy().into_owned();
    let scenario = "scenarios/raft/leader-crash.ron";
    let (c1, out, _) = distsim(&["run", scenario, "--format", "json", "--trace", &full]);
    let (c2, _, _) = distsim(&[
        "run",
        scenario,
        "--format",
        "json",
        "--trace",
        &kept,
        "--keep-events",
        "5",
    ]);
    assert_eq!((c1, c2), (Some(0), Some(0)));
    let events = json(&out)["events"].as_u64().unwrap();
    let full = std::fs::read_to_string(full).unwrap();
    let kept = std::fs::read_to_string(kept).unwrap();
    assert_eq!(full.lines().count() as u64, events);
    assert_eq!(kept, full, "--keep-events must not shorten the trace file");
    let last: serde_json::Value = serde_json::from_str(kept.lines().last().unwrap()).unwrap();
    assert_eq!(last["id"].as_u64().unwrap(), events - 1);
}

#[test]
fn ctrl_c_during_check_reports_the_seeds_already_run() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_distsim"))
        .args([
            "check",
            "scenarios/raft/default.ron",
            "--seeds",
            "0..1000000",
            "--jobs",
            "1",
            "--format",
            "json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("check went on after Ctrl-C");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&stdout);
    assert_eq!(v["interrupted"], true);
    assert_eq!(v["seeds"], 1_000_000);
    let ran = v["seeds_run"].as_u64().unwrap();
    assert!(ran > 0 && ran < 1_000_000, "{ran}");
}

#[test]
fn jobs_has_bounds() {
    for jobs in ["0", "10000"] {
        let (code, _, err) = distsim(&[
            "check",
            "scenarios/raft/default.ron",
            "--seeds",
            "0..2",
            "--jobs",
            jobs,
        ]);
        assert_eq!(code, Some(2), "--jobs {jobs}: {err}");
        assert!(err.contains("--jobs must be between 1 and"), "{err}");
    }
}

#[test]
fn a_missing_file_suggests_the_closest_bundled_scenarios() {
    for name in ["default.ron", "raft/default", "raft/defualt.ron"] {
        let (code, _, err) = distsim(&["run", name]);
        assert_eq!(code, Some(2));
        assert!(err.contains("no such file"), "{err}");
        assert!(err.contains("scenarios/raft/default.ron"), "{name}: {err}");
        assert!(err.contains("distsim list"), "{err}");
    }
}

#[test]
fn a_scenario_can_come_from_standard_input() {
    use std::io::Write as _;
    let text = std::fs::read_to_string("scenarios/raft/default.ron").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_distsim"))
        .args(["run", "-", "--format", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let from_file = json(&distsim(&["run", "scenarios/raft/default.ron", "--format", "json"]).1);
    assert_eq!(
        json(&String::from_utf8_lossy(&out.stdout))["digest"],
        from_file["digest"]
    );
}

#[test]
fn until_accepts_hours_and_says_when_it_is_clamped() {
    let (code, out, err) = distsim(&[
        "run",
        "scenarios/raft/default.ron",
        "--until",
        "1h",
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("clamped"), "{err}");
    assert_eq!(json(&out)["until"], "12.000s");
}

#[test]
fn expectations_cut_short_by_until_are_not_reached_not_failed() {
    let (code, out, err) = distsim(&[
        "run",
        "scenarios/raft/default.ron",
        "--until",
        "300ms",
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    let v = json(&out);
    let statuses: Vec<&str> = v["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    // No violation so far; the leader (due by 1.5s), elections and client successes are ahead.
    assert_eq!(
        statuses,
        ["passed", "not_reached", "not_reached", "not_reached"]
    );
    let (_, text, _) = distsim(&["run", "scenarios/raft/default.ron", "--until", "300ms"]);
    assert!(text.contains("[not reached] a leader by 1.500s"), "{text}");
    // A deadline already passed is a failure, cut short or not.
    let f = scratch(
        "deadline.ron",
        &relay("expect: [Role(role: \"nobody has this role\", within: \"100ms\")]"),
    );
    let (code, out, _) = distsim(&["run", &f, "--until", "1s", "--format", "json"]);
    assert_eq!(code, Some(1));
    assert_eq!(json(&out)["expectations"][0]["status"], "failed");
}

#[test]
fn help_describes_the_file_and_every_flag() {
    for cmd in [
        &["--help"][..],
        &["run", "--help"],
        &["check", "--help"],
        &["validate", "--help"],
        &["bench", "--help"],
    ] {
        let (code, out, _) = distsim(cmd);
        assert_eq!(code, Some(0));
        // A flag or argument line carries its description after two spaces (short help) or
        // on the indented line below it (long help).
        let lines: Vec<&str> = out.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            let flag = (t.starts_with('-') && !t.starts_with("- ")) // not a listed value
                || t.starts_with('<')
                || t.starts_with('[');
            let indent = l.len() - t.len(); // flags sit at 2 to 6, descriptions at 10
            if (2..8).contains(&indent) && flag {
                let next = lines.get(i + 1).copied().unwrap_or("");
                assert!(
                    t.contains("  ") || (next.starts_with("          ") && !next.trim().is_empty()),
                    "{cmd:?}: `{}` has no description",
                    t
                );
            }
        }
    }
}

#[test]
fn bench_refuses_zero_deliveries() {
    let (code, _, err) = distsim(&["bench", "--nodes", "10", "--deliveries", "0"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--deliveries"), "{err}");
}

#[test]
fn control_characters_in_scenario_text_are_escaped_in_text_output() {
    let f = scratch(
        "controls.ron",
        "(name: \"t\", title: \"clear\u{1b}[2J\", protocol: \"relay\", config: (tokens: 1), \
         nodes: Named([(name: \"a\u{1b}]0;pwned\u{7}\"), (name: \"b\")]), seed: 1, duration: \"1s\", \
         timeline: [(\"10ms\", Caption(\"bell\u{7}\\rback\u{9b}\")), (\"20ms\", Crash(\"a\u{1b}]0;pwned\u{7}\"))])",
    );
    let (code, out, err) = distsim(&["run", &f]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !out.contains(['\u{1b}', '\u{7}', '\r', '\u{9b}']),
        "raw control characters: {out:?}"
    );
    assert!(out.contains("clear\\u{1b}[2J"), "{out}");
    assert!(out.contains("CRASH a\\u{1b}]0;pwned\\u{7}"), "{out}");
    assert!(out.contains("bell\\u{7}\\rback\\u{9b}"), "{out}");
}

#[test]
fn a_compare_and_set_that_does_not_match_is_answered_so_available() {
    // Only compare-and-sets on one key, most expecting a value it does not hold; no faults.
    for protocol in ["raft", "multi_paxos"] {
        let f = scratch(
            &format!("cas-{protocol}.ron"),
            &format!(
                "(name: \"t\", title: \"t\", protocol: \"{protocol}\", nodes: Count(3), seed: 1, \
                 duration: \"4s\", network: (latency: Constant(\"5ms\")), \
                 workload: (clients: 2, interval: \"50ms\", start: \"1500ms\", keys: 1, \
                 mix: (get: 0, put: 0, cas: 1), timeout: \"1s\"))"
            ),
        );
        let (code, out, err) = distsim(&["run", &f, "--format", "json"]);
        assert_eq!(code, Some(0), "{protocol}: {err}");
        let c = &json(&out)["clients"];
        assert!(c["compare_failed"].as_u64().unwrap() > 0, "{protocol}: {c}");
        assert_eq!(c["failed"], 0, "{protocol}: {c}");
        assert_eq!(c["availability"], 1.0, "{protocol}: {c}");
    }
}

#[test]
fn metrics_are_written_as_tidy_csv_and_summarised_in_json() {
    let dir = std::env::temp_dir().join(format!("distsim-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("m.csv");
    let csv = csv.to_str().unwrap();
    let (code, out, err) = distsim(&[
        "run",
        "scenarios/basics/no-cache-baseline.ron",
        "--until",
        "5s",
        "--format",
        "json",
        "--metrics",
        csv,
    ]);
    assert_eq!(code, Some(0), "{err}");
    let v = json(&out);
    let p99 = &v["series"]["client.latency.p99"];
    assert!(p99["max"].as_f64().unwrap() >= p99["mean"].as_f64().unwrap());
    assert!(v["series"]["db1.queue"]["last"].is_number());
    let text = std::fs::read_to_string(csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("time_s,series,node,value"));
    // 5 s at the scenario's 100 ms interval: samples 0.0 .. 4.9 for db1's queue.
    let queue_rows = text.lines().filter(|l| l.contains(",queue,db1,")).count();
    assert_eq!(queue_rows, 50);
    assert!(
        text.lines()
            .any(|l| l.starts_with("4.9,client.latency.p99,,"))
    );
    // An unwritable path is refused before the run.
    let (code, _, err) = distsim(&[
        "run",
        "scenarios/basics/no-cache-baseline.ron",
        "--metrics",
        "/nonexistent-dir/m.csv",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cannot write the metrics"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--export history` and `--export edn` write the client operations; the JSON lines hold
/// enough to check the run again outside (here: with the project's own checker).
#[test]
fn exported_histories_can_be_checked_again_outside() {
    let dir = std::env::temp_dir().join(format!("distsim-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (jsonl, edn) = (dir.join("h.jsonl"), dir.join("h.edn"));
    let file = "scenarios/raft/bug-stale-reads-at-followers.ron";
    let (code, out, err) = distsim(&[
        "run",
        file,
        "--format",
        "json",
        "--export",
        "history",
        jsonl.to_str().unwrap(),
        "--export",
        "edn",
        edn.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let invoked = report["clients"]["invoked"].as_u64().unwrap() as usize;
    let text = std::fs::read_to_string(&jsonl).unwrap();
    let mut entries = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        entries.push(entry_of(&v));
    }
    assert_eq!(entries.len(), invoked);
    let history = distsim::sim::History { entries };
    let e = distsim::sim::linearizability::check(&history).expect_err("stale reads");
    assert!(e.ops.len() >= 2, "{}", e.explanation);
    // Jepsen form: one invocation and one completion per get/put/cas.
    let edn_text = std::fs::read_to_string(&edn).unwrap();
    let invokes = edn_text.matches(":type :invoke").count();
    assert_eq!(invokes, invoked);
    assert_eq!(edn_text.lines().count(), 2 * invoked);
    // Bad kinds and unwritable files are refused before running.
    let (code, _, err) = distsim(&["run", file, "--export", "pdf", "x.pdf"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("expected one of history, edn"), "{err}");
    let (code, _, err) = distsim(&["run", file, "--export", "edn", "/nonexistent/dir/x"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot write the edn export"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

fn entry_of(v: &serde_json::Value) -> distsim::sim::HistoryEntry {
    use distsim::sim::{Op, Outcome, SimTime};
    let s = |f: &str| v[f].as_str().map(str::to_string);
    let key = s("key").unwrap_or_default();
    let op = match v["op"].as_str().unwrap() {
        "get" => Op::Get { key },
        "put" => Op::Put {
            key,
            value: s("value").unwrap(),
        },
        "cas" => Op::Cas {
            key,
            from: s("expected"),
            to: s("value").unwrap(),
        },
        _ => Op::Request(s("value").unwrap()),
    };
    let outcome = match v["outcome"].as_str().unwrap() {
        "ok" => Some(Outcome::Ok { value: s("result") }),
        "compare_failed" => Some(Outcome::CompareFailed {
            current: s("result"),
        }),
        "fail" => Some(Outcome::Fail {
            reason: s("reason").unwrap(),
        }),
        "timeout" => Some(Outcome::Timeout),
        _ => None,
    };
    distsim::sim::HistoryEntry {
        client: v["client"].as_u64().unwrap() as u32,
        seq: v["seq"].as_u64().unwrap(),
        op,
        invoked_at: SimTime(v["invoke_us"].as_u64().unwrap()),
        returned_at: v["return_us"].as_u64().map(SimTime),
        outcome,
        attempts: v["attempts"].as_u64().unwrap() as u32,
        node: None,
    }
}

/// From "a sweep found a violation" to "a minimal counterexample to watch" in one command:
/// `check --minimize` writes a scenario that `run` replays as the expected violation, and
/// prints the app command that shows it.
#[test]
fn check_minimize_writes_a_smaller_scenario_that_still_violates() {
    let out_file = scratch("forget-vote-min.ron", "");
    let (code, out, err) = distsim(&[
        "check",
        "scenarios/raft/sweeps/forget-vote.ron",
        "--seeds",
        "2..3",
        "--minimize",
        "--out",
        &out_file,
    ]);
    assert_eq!(code, Some(1), "the sweep found a violation: {out}{err}");
    assert!(
        out.contains("watch it:  distsim scenarios/raft/sweeps/forget-vote.ron --seed 2 --at "),
        "{out}"
    );
    assert!(
        out.contains("minimized seed 2: Election Safety still violated with "),
        "{out}"
    );
    assert!(
        out.contains(&format!("watch it:  distsim {out_file} --spacetime")),
        "{out}"
    );
    let (code, run, _) = distsim(&["run", &out_file, "--format", "json"]);
    assert_eq!(
        code,
        Some(0),
        "the minimized scenario expects its violation: {run}"
    );
    let v = json(&run);
    assert_eq!(v["violations"][0]["invariant"], "Election Safety");
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert!(!text.contains("chaos:"), "chaos is scripted now");
    assert!(text.contains("Fault 1 of "), "{text}");
}

/// Golden files for the message and topology exports of a small run (regenerate with UPDATE_GOLDEN=1 and
/// review the diff).
#[test]
fn shiviz_and_mermaid_exports_match_their_golden_files() {
    for (kind, golden) in [
        (
            "shiviz",
            "tests/golden/exports/relay-random-walk.shiviz.log",
        ),
        ("mermaid", "tests/golden/exports/relay-random-walk.mmd"),
        (
            "flowchart",
            "tests/golden/exports/relay-random-walk.flowchart.mmd",
        ),
    ] {
        let out = scratch(&format!("export.{kind}"), "");
        let (code, _, err) = distsim(&[
            "run",
            "scenarios/relay/random-walk.ron",
            "--from",
            "1s",
            "--until",
            "1.3s",
            "--export",
            kind,
            &out,
        ]);
        assert_eq!(code, Some(0), "{err}");
        let got = std::fs::read_to_string(&out).unwrap();
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all("tests/golden/exports").unwrap();
            std::fs::write(golden, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(golden).unwrap_or_default();
        assert_eq!(got, want, "{kind} export differs from {golden}");
    }
}

#[test]
fn an_unknown_export_kind_lists_the_known_ones() {
    let (code, _, err) = distsim(&[
        "run",
        "scenarios/relay/random-walk.ron",
        "--export",
        "svg",
        "x.svg",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("history, edn, shiviz, mermaid, flowchart, csv"),
        "{err}"
    );
}
