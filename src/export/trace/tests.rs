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

#[test]
fn the_flowchart_groups_nodes_by_role_in_their_shapes_and_joins_those_that_talked() {
    let path = "scenarios/transactions/06-outbox-crash.ron";
    let text = crate::bundled::get(path).unwrap();
    let mut l = registry::load(text, path, &RunOptions::default()).unwrap();
    l.sim.run_until(SimTime::from_secs(1));
    let chart = text_of(|o| {
        flowchart(
            l.sim.trace(),
            &l.info.names,
            l.sim.roles(),
            SimTime::ZERO,
            o,
        )
    });
    let lines: Vec<&str> = chart.lines().map(str::trim).collect();
    assert_eq!(lines[0], "flowchart LR");
    // One subgraph per role, in the protocol's order, each node in its role's shape.
    let subgraphs: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("subgraph"))
        .copied()
        .collect();
    assert_eq!(subgraphs.len(), l.sim.roles().names().len());
    let names = &l.info.names;
    let id = |n: &str| names.iter().position(|x| x == n).unwrap();
    let bus = id("bus1");
    assert!(
        lines.contains(&format!("P{bus}[[\"bus1\"]]").as_str()),
        "{chart}"
    );
    // The workload's clients reach the order service only.
    let order = id("order1");
    assert!(lines.contains(&"C([clients])"), "{chart}");
    let client_edges: Vec<&&str> = lines.iter().filter(|l| l.starts_with("C -->")).collect();
    assert_eq!(client_edges, vec![&format!("C --> P{order}").as_str()]);
    // Every edge is a pair that exchanged messages, with its counts; and every such pair is
    // an edge.
    let mut pairs = BTreeMap::new();
    for e in l.sim.trace().events() {
        if let (EventKind::Send { to, .. }, Some(f)) = (&e.kind, e.node) {
            *pairs.entry((f.min(*to), f.max(*to))).or_insert(0u64) += 1;
        }
    }
    let edges: Vec<&&str> = lines.iter().filter(|l| l.contains("<-->")).collect();
    assert_eq!(edges.len(), pairs.len(), "{chart}");
    for ((a, b), n) in pairs {
        let edge = edges
            .iter()
            .find(|l| l.starts_with(&format!("P{a} <-->")) && l.ends_with(&format!("| P{b}")))
            .unwrap_or_else(|| panic!("no edge {a}-{b} in {chart}"));
        let counted: u64 = edge
            .split('×')
            .skip(1)
            .map(|s| {
                s.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .map(|d| d.parse::<u64>().unwrap())
            .sum();
        assert_eq!(counted, n, "{edge}");
    }
}
