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
        assert!(
            proto == l.info.protocol || proto == "compare",
            "{path}: scenarios live in scenarios/<protocol>/ (found protocol {})",
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
