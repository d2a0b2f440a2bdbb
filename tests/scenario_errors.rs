//! Bad input gets a located error (`file:line:col: message`) and exit code 2, never a panic.

use distsim::registry::{self, RunOptions};

const GOOD: &str = r#"(
    name: "t",
    title: "T",
    protocol: "relay",
    nodes: Count(3),
    duration: "1s",
    timeline: [
        ("100ms", Crash("n1")),
        ("200ms", Restart("n1")),
    ],
)"#;

fn err(text: &str) -> String {
    match registry::load(text, "bad.ron", &RunOptions::default()) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_good_scenario_loads() {
    assert!(registry::load(GOOD, "good.ron", &RunOptions::default()).is_ok());
}

#[test]
fn an_unknown_field_is_located_and_lists_what_was_expected() {
    let e = err(&GOOD.replace("    duration", "    duratoin: \"1s\",\n    duration"));
    assert!(e.starts_with("bad.ron:6:"), "{e}");
    assert!(e.contains("duratoin") && e.contains("expected"), "{e}");
}

#[test]
fn an_unknown_protocol_lists_the_known_ones() {
    let e = err(&GOOD.replace("\"relay\"", "\"rafty\""));
    assert!(e.starts_with("bad.ron:4:15:"), "{e}");
    assert!(
        e.contains("unknown protocol `rafty`") && e.contains("relay"),
        "{e}"
    );
}

#[test]
fn an_unknown_node_in_the_timeline_points_at_its_entry() {
    let e = err(&GOOD.replace("Restart(\"n1\")", "Restart(\"n9\")"));
    assert!(e.starts_with("bad.ron:9:9:"), "{e}");
    assert!(
        e.contains("unknown node `n9`") && e.contains("n1, n2, n3"),
        "{e}"
    );
}

#[test]
fn an_event_after_the_end_is_refused() {
    let e = err(&GOOD.replace("\"200ms\"", "\"2s\""));
    assert!(e.starts_with("bad.ron:9:9:"), "{e}");
    assert!(e.contains("after the end"), "{e}");
}

#[test]
fn probabilities_outside_zero_one_are_refused() {
    let e = err(&GOOD.replace("    timeline", "    network: (drop: 1.5),\n    timeline"));
    assert!(e.starts_with("bad.ron:7:"), "{e}");
    assert!(e.contains("[0, 1]") && e.contains("1.5"), "{e}");
}

#[test]
fn absurd_sizes_are_refused() {
    let e = err(&GOOD.replace("Count(3)", "Count(100000000)"));
    assert!(e.starts_with("bad.ron:5:"), "{e}");
    assert!(e.contains("between 1 and 100000 nodes"), "{e}");
    let e = err(&GOOD
        .replace("\"1s\"", "\"100000s\"")
        .replace("(\"100ms\", Crash(\"n1\")),", ""));
    assert!(e.contains("duration"), "{e}");
}

#[test]
fn a_bad_time_unit_says_what_units_exist() {
    let e = err(&GOOD.replace("\"1s\"", "\"1 fortnight\""));
    assert!(e.starts_with("bad.ron:6:"), "{e}");
    assert!(e.contains("us, ms, s, min"), "{e}");
}

#[test]
fn truncated_and_garbage_input_never_panics() {
    for cut in 0..GOOD.len() {
        if !GOOD.is_char_boundary(cut) {
            continue;
        }
        let r = registry::load(&GOOD[..cut], "cut.ron", &RunOptions::default());
        assert!(r.is_err(), "a prefix of {cut} bytes loaded");
    }
    for junk in [
        "",
        "(",
        "[[[[",
        "\"",
        "name: 1",
        "(name: 1)",
        "\u{0}",
        "(nodes: Count(-1))",
    ] {
        let e = err(junk);
        assert!(e.starts_with("bad.ron:"), "{e}");
    }
}

#[test]
fn the_binary_exits_2_with_the_location_on_bad_input() {
    let dir = std::env::temp_dir().join(format!("distsim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.ron");
    std::fs::write(&path, GOOD.replace("Crash(\"n1\")", "Crash(\"zz\")")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_distsim"))
        .args(["run", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.ron:8:9: unknown node `zz`"),
        "{stderr}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_distsim"))
        .args(["validate", "/nonexistent/x.ron"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.ron: cannot read"));
}

#[test]
fn every_bundled_scenario_validates_and_has_a_title_and_description() {
    for (path, text) in distsim::bundled::BUNDLED {
        let l =
            registry::load(text, path, &RunOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(!l.info.title.is_empty(), "{path} has no title");
        assert!(!l.info.description.is_empty(), "{path} has no description");
        let proto = path.split('/').nth(1).unwrap();
        // Topic folders gather scenarios of several protocols: `compare` (one scenario on
        // three consensus protocols), `basics` (the systems-of-services foundations),
        // `messaging` (queues, logs and streams), `storage` (the replication and
        // partitioning protocols of the storage guide), `transactions` (sagas and the
        // outbox) and `workflows` (durable execution, the folder issue 13 names).
        assert!(
            proto == l.info.protocol
                || proto == "compare"
                || proto == "basics"
                || proto == "messaging"
                || proto == "storage"
                || proto == "transactions"
                || proto == "workflows",
            "{path}: scenarios live in scenarios/<protocol>/ or a topic folder (found protocol {})",
            l.info.protocol
        );
    }
}

#[test]
fn an_absurd_protocol_config_is_refused_not_run() {
    let text = GOOD.replace("    nodes", "    config: (tokens: 4000000000),\n    nodes");
    let e = err(&text);
    assert!(e.starts_with("bad.ron:5:"), "{e}");
    assert!(e.contains("at most 1000000 tokens"), "{e}");
}

// ------------------------------------------------------------ bad input from the fuzzing campaign

/// `GOOD` with `line` inserted before its `timeline`.
fn with(line: &str) -> String {
    GOOD.replace("    timeline", &format!("    {line}\n    timeline"))
}

#[test]
fn a_chaos_every_near_the_largest_time_is_refused_with_its_location() {
    let e = err(&with("chaos: (stop: \"1s\", every: 18446744073709551615),"));
    assert!(e.starts_with("bad.ron:7:"), "{e}");
    assert!(e.contains("too large"), "{e}");
}

#[test]
fn times_beyond_the_input_limit_are_refused_wherever_they_are() {
    // A year and a day, as a string and as a bare number of microseconds.
    for t in ["\"527040min\"", "31622400000000"] {
        let e = err(&with(&format!("workload: (clients: 1, timeout: {t}),")));
        assert!(e.starts_with("bad.ron:7:"), "{t}: {e}");
        assert!(e.contains("too large"), "{t}: {e}");
    }
}

#[test]
fn the_smallest_drift_is_refused_not_wrapped() {
    let spec =
        "Named([(name: \"n1\", drift_ppm: -9223372036854775808), (name: \"n2\"), (name: \"n3\")])";
    let e = err(&GOOD.replace("Count(3)", spec));
    assert!(e.starts_with("bad.ron:5:"), "{e}");
    assert!(e.contains("within ±500000"), "{e}");
    let e = err(&GOOD.replace("Restart(\"n1\")", "SetDrift(\"n1\", -9223372036854775808)"));
    assert!(e.starts_with("bad.ron:9:9:"), "{e}");
    assert!(e.contains("within ±500000"), "{e}");
}

#[test]
fn a_token_ring_loss_timeout_of_zero_is_refused_even_with_its_bug_switch() {
    let text = GOOD.replace("\"relay\"", "\"token_ring\"").replace(
        "    nodes",
        "    config: (bug_no_majority: true, loss_timeout: \"0s\"),\n    nodes",
    );
    let e = err(&text);
    assert!(e.starts_with("bad.ron:5:"), "{e}");
    assert!(e.contains("loss_timeout"), "{e}");
}

#[test]
fn a_token_ring_config_whose_product_overflows_is_refused_not_a_panic() {
    let text = GOOD.replace("\"relay\"", "\"token_ring\"").replace(
        "    nodes",
        "    config: (ack_timeout: \"525600min\", retries: 4000000000),\n    nodes",
    );
    let e = err(&text);
    assert!(e.starts_with("bad.ron:5:"), "{e}");
    assert!(e.contains("ack_timeout"), "{e}");
}

/// `n` named nodes and a timeline of `events` crashes of the last one.
fn big(protocol: &str, n: usize, events: usize) -> String {
    let nodes: Vec<String> = (1..=n).map(|i| format!("(name: \"n{i}\")")).collect();
    let crash = format!("(\"1ms\", Crash(\"n{n}\")),");
    format!(
        "(name: \"big\", title: \"Big\", protocol: \"{protocol}\", duration: \"10ms\",\n\
         nodes: Named([{}]),\ntimeline: [{}])",
        nodes.join(", "),
        crash.repeat(events)
    )
}

#[test]
fn validation_is_not_quadratic_in_the_node_count() {
    // The old checks compared every name with every earlier one and every timeline node with
    // every name: 10^10 string comparisons here, minutes; now a sorted set.
    let text = big("relay", 100_000, 100_000);
    registry::load(&text, "big.ron", &RunOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let dup = text.replace("(name: \"n99999\")", "(name: \"n1\")");
    let e = err(&dup);
    assert!(e.contains("node name `n1` is used twice"), "{e}");
    let e = err(&big("token_ring", 100_000, 0));
    assert!(e.contains("between 2 and 128 nodes"), "{e}");
}

#[test]
fn all_to_all_protocols_refuse_clusters_that_cannot_fit_in_memory() {
    for p in [
        "raft",
        "zab",
        "multi_paxos",
        "paxos",
        "two_phase_commit",
        "three_phase_commit",
    ] {
        let e = err(&big(p, 2_000, 0));
        assert!(e.starts_with("bad.ron:2:1:"), "{p}: {e}");
        assert!(e.contains("at most 1000 nodes"), "{p}: {e}");
    }
}

#[test]
fn a_string_with_many_escapes_parses_in_linear_time() {
    // ron 0.11 rescanned the rest of the string after each escape, so the time grew as the
    // square of the escapes: 500,000 took over a minute, a million take minutes; ron 0.12.3
    // scans to the next delimiter only.
    let text = GOOD.replace(
        "    protocol",
        &format!(
            "    description: \"{}\",\n    protocol",
            "\\n".repeat(1_000_000)
        ),
    );
    let l =
        registry::load(&text, "esc.ron", &RunOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(l.info.description.len(), 1_000_000);
}

#[test]
fn invalid_utf8_is_reported_with_its_line_and_column() {
    let dir = std::env::temp_dir().join(format!("distsim-utf8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.ron");
    let mut bytes = GOOD.as_bytes().to_vec();
    let at = GOOD.find("\"T\"").unwrap() + 1; // line 3, column 13
    bytes.insert(at, 0xff);
    std::fs::write(&path, bytes).unwrap();
    let p = path.to_str().unwrap();
    let e = registry::read_scenario(p).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{p}:3:13:")), "{e}");
    assert!(e.contains("UTF-8"), "{e}");
}

#[test]
fn nodes_given_as_a_bare_number_says_what_nodes_expects() {
    let e = err(&GOOD.replace("Count(3)", "5"));
    assert!(e.starts_with("bad.ron:5:"), "{e}");
    assert!(e.contains("Count(") && e.contains("Named("), "{e}");
    assert!(!e.contains("raw identifier"), "{e}");
}

#[test]
fn errors_point_at_the_field_not_at_the_same_word_in_the_description_or_a_comment() {
    let text = GOOD
        .replace(
            "    protocol",
            "    description: \"nodes, chaos: every workload: keys\",\n    // nodes: chaos: workload: clients\n    protocol",
        )
        .replace(
            "    timeline",
            "    chaos: (stop: \"500ms\", every: \"1us\"),\n    timeline",
        );
    let e = err(&text);
    assert!(e.starts_with("bad.ron:9:"), "{e}");
    let e = err(&text.replace(
        "chaos: (stop: \"500ms\", every: \"1us\")",
        "workload: (keys: 0)",
    ));
    assert!(e.starts_with("bad.ron:9:"), "{e}");
    let e = err(&text
        .replace("chaos: (stop: \"500ms\", every: \"1us\")", "seed: 1")
        .replace("Count(3)", "Count(0)"));
    assert!(e.starts_with("bad.ron:7:"), "{e}");
}

#[test]
fn a_protocol_option_error_without_a_config_key_points_at_what_caused_it() {
    // The token ring's node limit, with the default config: not 1:1 but the `nodes` line.
    let e = err(&GOOD
        .replace("\"relay\"", "\"token_ring\"")
        .replace("Count(3)", "Count(200)"));
    assert!(e.starts_with("bad.ron:5:"), "{e}");
    assert!(e.contains("between 2 and 128 nodes"), "{e}");
    // An option inside `config` points at that option.
    let e = err(&GOOD.replace(
        "    nodes",
        "    config: (\n        hold: \"1ms\",\n        tokens: 4000000000,\n    ),\n    nodes",
    ));
    assert!(e.starts_with("bad.ron:7:9:"), "{e}");
}

#[test]
fn bad_chaos_groups_restarts_and_crash_probability_are_refused_with_their_location() {
    let e = err(&with("chaos: (stop: \"1s\", groups: 4),"));
    assert!(e.starts_with("bad.ron:7:"), "{e}");
    assert!(e.contains("between 2 and the node count 3"), "{e}");
    let e = err(&with("chaos: (stop: \"1s\", crash_after_send: 1.5),"));
    assert!(e.starts_with("bad.ron:7:"), "{e}");
    assert!(e.contains("probability"), "{e}");
    let e = err(&with("chaos: (stop: \"1s\", restart_after: \"0ms\"),"));
    assert!(e.starts_with("bad.ron:7:"), "{e}");
    assert!(e.contains("positive"), "{e}");
}
