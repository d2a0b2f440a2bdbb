use super::*;
use crate::registry::{self, RunOptions};
use std::collections::BTreeMap;

fn run(path: &str, until: SimTime) -> (Trace, Vec<String>) {
    let text = crate::bundled::get(path).unwrap();
    let mut l = registry::load(text, path, &RunOptions::default()).unwrap();
    l.sim.run_until(until);
    (l.sim.trace().clone(), l.info.names)
}

fn text_of(f: impl Fn(&mut dyn Write) -> io::Result<()>) -> String {
    let mut out = Vec::new();
    f(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// Parses the ShiViz file the way ShiViz does: expression, delimiter, then event/host pairs.
fn parse_shiviz(s: &str) -> Vec<(String, String, BTreeMap<String, u64>)> {
    let mut lines = s.lines();
    assert_eq!(lines.next(), Some(SHIVIZ_REGEX));
    assert_eq!(lines.next(), Some(""));
    let rest: Vec<&str> = lines.collect();
    assert_eq!(rest.len() % 2, 0);
    rest.chunks(2)
        .map(|p| {
            let (host, clock) = p[1].split_once(' ').expect("host clock");
            let clock: BTreeMap<String, u64> = serde_json::from_str(clock).expect("JSON clock");
            (p[0].to_string(), host.to_string(), clock)
        })
        .collect()
}

#[test]
fn shiviz_clocks_count_each_hosts_events_from_one_and_receives_dominate_sends() {
    let (trace, names) = run("scenarios/relay/chaos.ron", SimTime::from_secs(2));
    let parsed = parse_shiviz(&text_of(|o| shiviz(&trace, &names, SimTime::ZERO, o)));
    let mut count: BTreeMap<&str, u64> = BTreeMap::new();
    for (_, host, clock) in &parsed {
        let c = count.entry(host).or_default();
        *c += 1;
        assert_eq!(
            clock.get(host),
            Some(&*c),
            "{host}'s own entry counts its events"
        );
    }
    // Pair each receive with its send (the k-th event of a node is its k-th line).
    let with_node: Vec<&TraceEvent> = trace.events().iter().filter(|e| e.node.is_some()).collect();
    assert_eq!(with_node.len(), parsed.len());
    let line_of: BTreeMap<u64, usize> = with_node
        .iter()
        .enumerate()
        .map(|(i, e)| (e.id, i))
        .collect();
    let mut receives = 0;
    for (i, e) in with_node.iter().enumerate() {
        if let EventKind::Deliver { send, .. } = e.kind {
            let s = &parsed[line_of[&send]].2;
            let r = &parsed[i].2;
            assert!(
                s.iter().all(|(h, c)| r.get(h).is_some_and(|rc| rc >= c)),
                "{s:?} ≤ {r:?}"
            );
            receives += 1;
        }
    }
    assert!(receives > 20);
}

#[test]
fn shiviz_from_leaves_out_earlier_events_but_keeps_their_counts() {
    let (trace, names) = run("scenarios/relay/random-walk.ron", SimTime::from_secs(3));
    let from = SimTime::from_secs(2);
    let parsed = parse_shiviz(&text_of(|o| shiviz(&trace, &names, from, o)));
    let expected = trace
        .events()
        .iter()
        .filter(|e| e.node.is_some() && e.time >= from)
        .count();
    assert_eq!(parsed.len(), expected);
    let (_, host, clock) = &parsed[0];
    assert!(
        clock[host] > 1,
        "the first shown event is not its host's first"
    );
}

#[test]
fn mermaid_lists_every_delivery_and_loss_once() {
    let (trace, names) = run("scenarios/relay/chaos.ron", SimTime::from_secs(1));
    let out = text_of(|o| mermaid(&trace, &names, SimTime::ZERO, o));
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("sequenceDiagram"));
    let participants = out
        .lines()
        .filter(|l| l.trim_start().starts_with("participant"))
        .count();
    assert_eq!(participants, names.len());
    let delivered = trace
        .events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Deliver { .. }))
        .count();
    let lost = trace
        .events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Drop { .. }))
        .count();
    assert!(
        delivered + lost <= MERMAID_MAX_MESSAGES,
        "pick a shorter run"
    );
    assert_eq!(out.matches("->>").count(), delivered);
    assert_eq!(out.matches("-xP").count(), lost);
    assert!(lost > 0 && out.contains("Note over"), "{out}");
    assert!(!out.contains(';') && !out.contains('#'));
}

#[test]
fn a_long_mermaid_diagram_is_cut_and_says_how_much_it_left_out() {
    let (trace, names) = run("scenarios/raft/default.ron", SimTime::from_secs(10));
    let out = text_of(|o| mermaid(&trace, &names, SimTime::ZERO, o));
    let messages = trace
        .events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Deliver { .. } | EventKind::Drop { .. }))
        .count();
    assert!(messages > MERMAID_MAX_MESSAGES);
    let shown = out.matches("->>").count() + out.matches("-xP").count();
    assert_eq!(shown, MERMAID_MAX_MESSAGES);
    let more = format!("{} more messages", messages - MERMAID_MAX_MESSAGES);
    assert!(out.trim_end().ends_with(&format!(
        "{more} (narrow the window with --from and --until)"
    )));
}

#[test]
fn mermaid_text_cannot_break_the_diagram() {
    assert_eq!(mermaid_text("a;b#c\nd%%e"), "a,bno. c d%e");
}
