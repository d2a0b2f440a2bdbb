use super::*;
use crate::visual::session::Session;

fn run(path: &str, until: SimTime) -> Session {
    let mut s = Session::open(crate::bundled::get(path).unwrap(), path, None).unwrap();
    s.seek(until);
    s
}

fn index_of(s: &Session) -> SpaceTime {
    let mut st = SpaceTime::new(s.info.names.len());
    st.update(s.sim.trace(), |t| {
        minority(&s.index.network_at(t, &s.info.names).groups())
    });
    st
}

#[test]
fn every_send_is_one_arrow_ending_at_its_delivery_or_drop() {
    let s = run("scenarios/relay/chaos.ron", SimTime::from_secs(5));
    let st = index_of(&s);
    let trace = s.sim.trace();
    let mut sends = 0;
    let mut ends = BTreeMap::new();
    for e in trace.events() {
        match &e.kind {
            EventKind::Send { .. } | EventKind::Duplicate { .. } => sends += 1,
            EventKind::Deliver { send, .. } => {
                ends.insert(e.id, (*send, e.time, Fate::Delivered));
            }
            EventKind::Drop { send, reason, .. } => {
                ends.insert(e.id, (*send, e.time, Fate::Dropped(*reason)));
            }
            _ => {}
        }
    }
    assert_eq!(st.arrows.len(), sends);
    let dropped = st
        .arrows
        .iter()
        .filter(|a| matches!(a.fate, Fate::Dropped(_)))
        .count();
    assert!(dropped > 0, "the chaos run loses messages");
    for a in &st.arrows {
        match a.end_event {
            Some(id) => {
                let (send, at, fate) = ends[&id];
                assert_eq!((send, at, fate), (a.send, a.end, a.fate), "{a:?}");
            }
            None => assert_eq!(a.fate, Fate::InFlight),
        }
        assert!(a.end >= a.sent);
    }
}

#[test]
fn reading_the_trace_in_pieces_gives_the_same_index() {
    let path = "scenarios/relay/chaos.ron";
    let mut s = Session::open(crate::bundled::get(path).unwrap(), path, None).unwrap();
    let mut st = SpaceTime::new(s.info.names.len());
    for ms in (100..=5_000).step_by(350) {
        s.seek(SimTime::from_millis(ms));
        let (index, names) = (&s.index, &s.info.names);
        st.update(s.sim.trace(), |t| {
            minority(&index.network_at(t, names).groups())
        });
    }
    let whole = index_of(&s);
    assert_eq!(st.arrows, whole.arrows);
    assert_eq!(st.marks, whole.marks);
    assert_eq!(st.shades, whole.shades);
}

#[test]
fn a_window_shows_exactly_the_arrows_that_cross_it() {
    let s = run("scenarios/relay/chaos.ron", SimTime::from_secs(5));
    let st = index_of(&s);
    let none = BTreeSet::new();
    for (a, b) in [(0, 300), (1_000, 1_040), (2_500, 4_000), (4_990, 5_000)] {
        let (t0, t1) = (SimTime::from_millis(a), SimTime::from_millis(b));
        let v = st.visible(t0, t1, &none);
        let brute: Vec<usize> = (0..st.arrows.len())
            .filter(|&i| {
                let x = &st.arrows[i];
                x.sent <= t1 && (x.end >= t0 || x.fate == Fate::InFlight)
            })
            .collect();
        assert_eq!(v.arrows, brute, "window {a}..{b} ms");
        assert!(
            v.marks
                .iter()
                .all(|&i| st.marks[i].time >= t0 && st.marks[i].time <= t1)
        );
    }
}

#[test]
fn hidden_kinds_are_left_out() {
    let s = run("scenarios/raft/default.ron", SimTime::from_secs(3));
    let st = index_of(&s);
    assert!(st.kinds.contains(&"AppendEntries"), "{:?}", st.kinds);
    let all = st.visible(SimTime::ZERO, SimTime::from_secs(3), &BTreeSet::new());
    let hidden = BTreeSet::from(["AppendEntries"]);
    let some = st.visible(SimTime::ZERO, SimTime::from_secs(3), &hidden);
    assert!(some.arrows.len() < all.arrows.len());
    assert!(
        some.arrows
            .iter()
            .all(|&i| st.arrows[i].kind != "AppendEntries")
    );
}

#[test]
fn crashes_and_partitions_shade_the_lanes_they_hit() {
    let s = run("scenarios/relay/chaos.ron", SimTime::from_secs(5));
    let st = index_of(&s);
    let crashes: Vec<&Mark> = st
        .marks
        .iter()
        .filter(|m| m.kind == MarkKind::Crash)
        .collect();
    assert!(!crashes.is_empty());
    for c in crashes {
        assert!(
            st.shades
                .iter()
                .any(|sh| sh.node == c.node && sh.from == c.time && sh.why == ShadeKind::Crashed),
            "crash of {} at {}",
            c.node,
            c.time
        );
    }
    // A partition shades the smaller side while it lasts.
    let cut: Vec<&Shade> = st
        .shades
        .iter()
        .filter(|sh| sh.why == ShadeKind::Partitioned)
        .collect();
    assert!(!cut.is_empty(), "the chaos run partitions the cluster");
    for sh in cut {
        let mid = SimTime(sh.from.0 + (sh.to.unwrap_or(sh.from).0.saturating_sub(sh.from.0)) / 2);
        let groups = s.index.network_at(mid, &s.info.names).groups();
        assert!(minority(&groups).contains(&sh.node), "{sh:?} {groups:?}");
    }
}

#[test]
fn the_minority_is_every_group_but_the_largest() {
    assert_eq!(minority(&[]), Vec::<NodeId>::new());
    assert_eq!(minority(&[vec![0, 1], vec![2, 3, 4]]), vec![0, 1]);
    assert_eq!(minority(&[vec![0], vec![1, 2], vec![3]]), vec![0, 3]);
    // Equal halves: the first group is kept whole.
    assert_eq!(minority(&[vec![0, 1], vec![2, 3]]), vec![2, 3]);
}

#[test]
fn a_linear_map_and_its_inverse() {
    let m = TimeMap::linear(SimTime::from_secs(1), SimTime::from_secs(3), 100.0, 500.0);
    assert_eq!(m.x_of(SimTime::from_secs(1)), 100.0);
    assert_eq!(m.x_of(SimTime::from_secs(2)), 300.0);
    assert_eq!(m.x_of(SimTime::from_secs(3)), 500.0);
    assert_eq!(m.time_at(300.0), SimTime::from_secs(2));
    assert!(m.gaps.is_empty());
}

#[test]
fn an_idle_stretch_is_squeezed_and_the_busy_parts_share_the_rest() {
    let ms = SimTime::from_millis;
    // Busy 0..100ms and 900..1000ms; idle in between.
    let activity: Vec<SimTime> = (0..=10)
        .map(|k| ms(k * 10))
        .chain((90..=100).map(|k| ms(k * 10)))
        .collect();
    let m = TimeMap::collapsed(ms(0), ms(1_000), 0.0, 1_000.0, &activity, 0.2, 40.0);
    assert_eq!(m.gaps, vec![(ms(100), ms(900))]);
    // 200 ms of activity share 960 px: 4.8 px per ms.
    let x100 = m.x_of(ms(100));
    assert!((x100 - 480.0).abs() < 0.01, "{x100}");
    assert!((m.x_of(ms(900)) - 520.0).abs() < 0.01);
    assert_eq!(m.x_of(ms(1_000)), 1_000.0);
    // Monotone, and the inverse returns the busy moments.
    let xs: Vec<f32> = (0..=1_000).step_by(10).map(|k| m.x_of(ms(k))).collect();
    assert!(xs.windows(2).all(|w| w[0] <= w[1]));
    for &t in &activity {
        let back = m.time_at(m.x_of(t));
        assert!(back.0.abs_diff(t.0) <= 300, "{t} -> {back}");
    }
    // No gap longer than a fifth of the window: plain linear.
    let busy: Vec<SimTime> = (0..=100).map(|k| ms(k * 10)).collect();
    let flat = TimeMap::collapsed(ms(0), ms(1_000), 0.0, 1_000.0, &busy, 0.2, 40.0);
    assert_eq!(flat, TimeMap::linear(ms(0), ms(1_000), 0.0, 1_000.0));
}

#[test]
fn causal_past_and_future_agree_with_vector_clocks() {
    let s = run("scenarios/raft/default.ron", SimTime::from_millis(1_500));
    let trace = s.sim.trace();
    let n = s.info.names.len();
    let vcs = trace.vector_clocks(n);
    let le = |a: &[u32], b: &[u32]| a.iter().zip(b).all(|(x, y)| x <= y);
    let with_node: Vec<usize> = (0..trace.events().len())
        .filter(|&i| trace.events()[i].node.is_some())
        .collect();
    // A delivery in the middle of the run, and a few other anchors.
    let anchors: Vec<usize> = with_node
        .iter()
        .copied()
        .step_by(with_node.len() / 5)
        .collect();
    for a in anchors {
        let anchor = trace.events()[a].id;
        let c = causality(trace, anchor, SimTime::ZERO, s.cursor);
        for &i in &with_node {
            let id = trace.events()[i].id;
            if i == a {
                continue;
            }
            let before = le(&vcs[i], &vcs[a]);
            let after = le(&vcs[a], &vcs[i]);
            assert_eq!(
                c.past.contains(&id),
                before,
                "event {id} vs anchor {anchor}"
            );
            assert_eq!(
                c.future.contains(&id),
                after,
                "event {id} vs anchor {anchor}"
            );
        }
    }
}
